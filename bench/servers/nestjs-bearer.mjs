// Variants D and E: this library, from the compiled dist/. TOKEN_CACHE=off sets
// `tokenCache: false` (every request verifies the signature); otherwise the default cache.
// NESTJS_BEARER_ENTRY points at another build's index.js, to compare a change against dist/.
import { pathToFileURL } from 'node:url';
import { createAppModule, readAuthEnv, serve } from './common.mjs';

const entry = process.env.NESTJS_BEARER_ENTRY
  ? pathToFileURL(process.env.NESTJS_BEARER_ENTRY).href
  : new URL('../../dist/lib/index.js', import.meta.url).href;
let lib;
try {
  lib = await import(entry);
} catch (error) {
  throw new Error(`${entry} cannot be loaded; run "npm run build" first`, {
    cause: error,
  });
}

const { issuer, audience, jwksUri } = readAuthEnv();
const cacheOff = process.env.TOKEN_CACHE === 'off';

await serve(
  createAppModule({
    imports: [
      lib.AuthModule.forRoot({
        issuer,
        audience,
        jwksUri,
        ...(cacheOff && { tokenCache: false }),
      }),
    ],
  }),
);
