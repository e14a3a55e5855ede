// Standalone simulator: `npm run simulator`. Faults can be flipped at /__sim/faults.
import { startSimulator } from './server.ts';
import { isCameraModel } from './surface.ts';

const env = process.env;
const port = Number(env.SIM_PORT ?? 8081);
const model = env.SIM_MODEL ?? 'WV-V2530LK';

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`SIM_PORT must be a port number, got '${env.SIM_PORT}'`);
  process.exit(2);
}
if (!isCameraModel(model)) {
  console.error(`SIM_MODEL must be one of WV-V1330LK, WV-V2530LK, WV-V1330L1, WV-V2530L1, got '${model}'`);
  process.exit(2);
}

const sim = await startSimulator({
  port,
  host: env.SIM_HOST ?? '127.0.0.1',
  model,
  username: env.SIM_USER ?? 'admin',
  password: env.SIM_PASSWORD ?? 'admin',
  control: true,
  // The four models have no PTZ (vendor §4.10 is N/A on all): SIM_PTZ=1 simulates a PTZ head.
  ptz: env.SIM_PTZ === '1',
  // SIM_EVENTS_MS=5000: VideoMotion starts and stops on channel 1 in turn every 5 s.
  ...(Number(env.SIM_EVENTS_MS) > 0 ? { events: { everyMs: Number(env.SIM_EVENTS_MS) } } : {}),
});
console.log(`camgate simulator: ${model} at ${sim.url} (user ${env.SIM_USER ?? 'admin'}); faults at ${sim.url}/__sim/faults`);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`camgate simulator: ${signal}, closing`);
  await sim.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
