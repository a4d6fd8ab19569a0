// Variants D and E: this library, from the compiled dist/. TOKEN_CACHE=off sets
// `tokenCache: false` (every request verifies the signature); otherwise the default cache.
import { createAppModule, readAuthEnv, serve } from './common.mjs';

let lib;
try {
  lib = await import('../../dist/lib/index.js');
} catch (error) {
  throw new Error(`dist/lib/index.js cannot be loaded; run "npm run build" first`, {
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
