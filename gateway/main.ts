// `npm start`: read the configuration, start the gateway, print where it listens, stop on SIGTERM.
import { ConfigError, DEFAULT_MODEL, loadConfig, type GatewayConfig } from './config.ts';
import { SHUTDOWN_DEADLINE_MS, startGateway } from './gateway.ts';
import { createLogger } from './logger.ts';

async function main(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`camgate: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const gateway = await startGateway(config, logger);
  const camera = config.cameras[0]?.id ?? 'cam1';
  process.stdout.write(
    [
      `camgate listening on ${gateway.url} (${config.cameras.length === 0 ? `built-in simulator ${DEFAULT_MODEL} as cam1` : `${config.cameras.length} camera(s)`})`,
      `  docs:    ${gateway.url}/docs`,
      `  example: curl -u admin:<password> ${gateway.url}/api/v1/cameras/${camera}/system/general`,
      ...(config.generatedAdminPassword ? [`  admin password (generated, shown once): ${config.generatedAdminPassword}`] : []),
      '',
    ].join('\n'),
  );
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
    gateway.stop().then(
      () => {
        clearTimeout(force);
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`camgate: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
