{{- define "sfbridge.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "sfbridge.labels" -}}
app.kubernetes.io/name: sfbridge
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "sfbridge.selector" -}}
app.kubernetes.io/name: sfbridge
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{/* The sfbridge config the pods run: the user's, with the chart's store, HA, health and dead letters. */}}
{{- define "sfbridge.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- if eq .Values.replayStore.type "postgres" -}}
{{- $_ := set $c "replayStore" (dict "type" "postgres" "url" (printf "${%s}" (.Values.replayStore.urlEnv | default "DATABASE_URL")) "namespace" (.Values.replayStore.namespace | default "sfbridge")) -}}
{{- $_ := set $c "ha" (dict "enabled" true "instanceId" "${POD_NAME}" "leaseTtlMs" ((.Values.ha).leaseTtlMs | default 15000)) -}}
{{- else -}}
{{- $_ := set $c "replayStore" (dict "type" "file" "path" "/data/replay.json") -}}
{{- end -}}
{{- $_ := set $c "deadLetter" (dict "type" "file" "dir" "/data/dead-letters") -}}
{{- $_ := set $c "health" (dict "host" "0.0.0.0" "port" .Values.healthPort "routesApi" (.Values.routesApi | default "read-only")) -}}
{{- toYaml $c -}}
{{- end -}}
