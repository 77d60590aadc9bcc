// After `npm install`: when npm itself ran on a Node.js older than the project supports, say in one
// line why npm printed EBADENGINE warnings and that nothing needs doing (README "Node.js").
const agent = process.env.npm_config_user_agent ?? '';
const m = / node\/v((\d+)\.(\d+)\.\d+)/.exec(agent);
if (m) {
  const [major, minor] = [Number(m[2]), Number(m[3])];
  const supported = (major === 22 && minor >= 22) || (major === 24 && minor >= 6) || major >= 25;
  if (!supported)
    process.stdout.write(
      `sfbridge: npm ran on Node.js v${m[1]} (unsupported; hence any EBADENGINE warnings above): the project's scripts run on the Node.js ${process.version} that this install pinned in node_modules, so \`npm run demo\` and \`npm test\` work as they are\n`,
    );
}
