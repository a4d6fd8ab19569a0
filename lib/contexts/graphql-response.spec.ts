import { holdResponseStatus, nodeResponseOf } from './graphql-response.js';

describe('holdResponseStatus', () => {
  function fakeResponse(): {
    response: { headersSent: boolean; writeHead: (s: number) => unknown };
    written: number[];
  } {
    const written: number[] = [];
    const response = {
      headersSent: false,
      writeHead(status: number): unknown {
        written.push(status);
        return this;
      },
    };
    return { response, written };
  }

  it('replaces the 200 the driver writes', () => {
    const { response, written } = fakeResponse();
    holdResponseStatus(response, 401);
    holdResponseStatus(response, 403);
    response.writeHead(200);
    expect(written).toEqual([403]);
  });

  it('leaves a status the driver chose for its own reasons', () => {
    const { response, written } = fakeResponse();
    holdResponseStatus(response, 401);
    response.writeHead(400);
    expect(written).toEqual([400]);
  });

  it('does nothing once the head is sent', () => {
    const { response, written } = fakeResponse();
    response.headersSent = true;
    holdResponseStatus(response, 401);
    response.writeHead(200);
    expect(written).toEqual([200]);
  });

  it('finds the Node response of Mercurius (reply.raw) and Apollo (req.res)', () => {
    const { response } = fakeResponse();
    expect(nodeResponseOf({ reply: { raw: response } })).toBe(response);
    expect(nodeResponseOf({ req: { res: response } })).toBe(response);
    expect(nodeResponseOf({ req: {} })).toBeUndefined();
    expect(nodeResponseOf(undefined)).toBeUndefined();
  });
});
