import { createTestKey, JwksServer, type TestKey } from './support/jwks-server.js';
import { mintToken, tamper, forgeUnsigned } from './support/tokens.js';
import { send, bearer, outcome } from './support/http.js';
import { ADAPTERS, startScenarioApp, type ScenarioApp } from './scenario/scenario-app.js';

describe.each(ADAPTERS)('scratch %s', (adapter) => {
  let server: JwksServer; let key: TestKey; let s: ScenarioApp;
  beforeAll(async () => {
    key = await createTestKey({ kid: 'k1' });
    server = await JwksServer.start({ keys: [key] });
    const t0 = Date.now();
    s = await startScenarioApp({ issuer: server.issuer, audience: 'api', jwksUri: server.jwksUri, tokenLocations: ['header','body','query'], realm: 'api', jwks: { cooldown: 0 } }, { adapter });
    console.log('start ms', Date.now() - t0);
  });
  afterAll(async () => { await s.app.close(); await server.close(); });
  it('explores', async () => {
    const good = await mintToken(key, { iss: server.issuer, aud: 'api', sub: 'alice', scp: 'documents.read', tid: 't1' });
    const cases: [string, Parameters<typeof send>[1], string][] = [
      ['none', {}, '/me'],
      ['good', { headers: bearer(good) }, '/me'],
      ['empty', { headers: { authorization: 'Bearer' } }, '/me'],
      ['tamper', { headers: bearer(tamper(good)) }, '/me'],
      ['query', {}, '/me?access_token=' + good],
      ['query2', {}, '/me?access_token=' + good + '&access_token=' + good],
      ['both', { headers: bearer(good) }, '/me?access_token=' + good],
      ['form', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'access_token=' + good }, '/write'],
      ['json', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ access_token: good }) }, '/write'],
      ['getform', { method: 'GET', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'access_token=' + good }, '/me'],
      ['dup', { headers: { authorization: ['Bearer ' + good, 'Bearer ' + good] } }, '/me'],
      ['none-alg', { headers: bearer(forgeUnsigned({ alg: 'none', kid: 'k1' }, { iss: server.issuer, aud: 'api', exp: 9999999999 })) }, '/me'],
      ['combined', { headers: bearer(good) }, '/combined'],
      ['boom', { headers: bearer(good) }, '/boom'],
      ['claim', { headers: bearer(good) }, '/claim'],
    ];
    for (const [name, opts, path] of cases) {
      const res = await send(s.url + path, opts);
      console.log(adapter, name, JSON.stringify(outcome(res)), res.headers['cache-control']);
    }
  });
});
