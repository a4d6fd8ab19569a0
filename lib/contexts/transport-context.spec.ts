import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { appendVary } from './transport-context.js';

/** A real Node response, never written: headers only. */
function response(vary?: string | string[]): ServerResponse {
  const res = new ServerResponse(new IncomingMessage(new Socket()));
  if (vary !== undefined) res.setHeader('Vary', vary);
  return res;
}

describe('appendVary', () => {
  it('sets Vary when there is none', () => {
    const res = response();
    appendVary(res, 'Authorization');
    expect(res.getHeader('vary')).toBe('Authorization');
  });

  it('appends to the fields listed already, once however often it is called', () => {
    const res = response('Accept-Encoding');
    appendVary(res, 'Authorization');
    appendVary(res, 'Authorization');
    expect(res.getHeader('vary')).toBe('Accept-Encoding, Authorization');
  });

  it('reads a Vary set as several values', () => {
    const res = response(['Accept-Encoding', 'Origin']);
    appendVary(res, 'Authorization');
    expect(res.getHeader('vary')).toBe(
      'Accept-Encoding, Origin, Authorization',
    );
  });

  it.each(['authorization', 'Origin, AUTHORIZATION', '*', 'Accept, *'])(
    'leaves "%s" as it is (listed in any case, or every field)',
    (vary) => {
      const res = response(vary);
      appendVary(res, 'Authorization');
      expect(res.getHeader('vary')).toBe(vary);
    },
  );

  it('does nothing once the headers are sent, or without a response', () => {
    const res = response();
    Object.defineProperty(res, 'headersSent', { value: true });
    appendVary(res, 'Authorization');
    expect(res.getHeader('vary')).toBeUndefined();
    expect(() => appendVary(undefined, 'Authorization')).not.toThrow();
  });
});
