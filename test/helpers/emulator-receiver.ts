import { afterAll, beforeAll } from 'vitest';
import { startEmulator, type TestEmulator } from './emulator.js';
import { Receiver } from './webhook-receiver.js';

/**
 * A describe block's emulator and webhook receiver: started before its tests (the emulator is
 * handed to `use`), stopped after them. Returns the receiver.
 */
export function emulatorAndReceiver(secret: string, use: (t: TestEmulator) => void): Receiver {
  const receiver = new Receiver(secret);
  let t: TestEmulator | undefined;
  beforeAll(async () => {
    t = await startEmulator();
    use(t);
    await receiver.start();
  });
  afterAll(async () => {
    await receiver.stop();
    await t?.stop();
  });
  return receiver;
}
