// Variant C: Auth0's express-oauth2-jwt-bearer as Express middleware in the same Nest app.
import { auth } from 'express-oauth2-jwt-bearer';
import { createAppModule, readAuthEnv, serve } from './common.mjs';

const { issuer, audience, jwksUri } = readAuthEnv();

await serve(createAppModule(), (app) => {
  app.use(auth({ issuer, jwksUri, audience }));
  // Without an error handler Express's final handler logs every 401 to stderr.
  app.use((error, _req, res, _next) => {
    res.status(error.status ?? 500);
    if (error.headers) res.set(error.headers);
    res.json({ statusCode: res.statusCode, error: error.code ?? 'error' });
  });
});
