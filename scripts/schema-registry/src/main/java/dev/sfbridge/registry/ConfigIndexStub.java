package dev.sfbridge.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

/**
 * Stands in for apicurio-common-app-components-config-index, whose Quarkus deployment module is
 * not on Maven Central: it would produce the list of runtime-editable properties at build time.
 * The tests edit none, so the list is empty.
 */
@ApplicationScoped
public class ConfigIndexStub {
    @Produces
    @ApplicationScoped
    public DynamicConfigPropertyList dynamicConfigProperties() {
        return new DynamicConfigPropertyList(List.of());
    }
}
