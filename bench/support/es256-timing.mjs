// Prints the cost of one ES256 signature check ({ medianUs, fastestUs }, see timeEs256Verify)
// as one JSON line. run.mjs starts it pinned to the servers' CPU, so it is timed where the
// servers check their proofs.
import { timeEs256Verify } from './dpop.mjs';

process.stdout.write(`${JSON.stringify(timeEs256Verify())}\n`);
