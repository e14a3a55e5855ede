import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { errors as undiciErrors, request } from 'undici';
import { cameraErrorFromBody, cameraErrorFromStatus, transportError } from '../adapters/cgi/errors.ts';
import { ProblemError, type ProblemCode } from '../gateway/problems.ts';

describe('cameraErrorFromBody: ErrorID 0..7 (vendor table 3-2)', () => {
  const table: Array<[number, ProblemCode, number, string]> = [
    [0, 'CAMERA_AUTH_FAILED', 502, 'Invalid Authority!'],
    [1, 'CAMERA_PROTOCOL_ERROR', 502, 'Request parses error!'],
    [2, 'CAMERA_PROTOCOL_ERROR', 502, 'Invalid Request!'],
    [3, 'NOT_SUPPORTED_BY_MODEL', 501, 'Method not found!'],
    [4, 'CAMERA_REJECTED', 422, 'Request invalid param!'],
    [5, 'CAMERA_ERROR', 502, 'Server internal error!'],
    [6, 'CAMERA_TIMEOUT', 504, 'Request Timeout!'],
    [7, 'CAMERA_ERROR', 502, 'Client keepalive failed!'],
  ];
  for (const [id, code, status, text] of table) {
    it(`ErrorID=${id} → ${code} ${status}`, () => {
      const err = cameraErrorFromBody(`Error\r\nErrorID=${id}, Detail=${text}\r\n`);
      assert.ok(err instanceof ProblemError);
      assert.equal(err.code, code);
      assert.equal(err.status, status);
      assert.equal(err.cameraErrorId, id);
      assert.equal(err.detail, text);
      assert.equal(err.toJSON().cameraErrorId, id);
    });
  }

  const variants: Array<[string, string, ProblemCode, number | undefined, string]> = [
    ['LF only', 'Error\nErrorID=4, Detail=Request invalid param!\n', 'CAMERA_REJECTED', 4, 'Request invalid param!'],
    ['space after Detail=', 'Error\r\nErrorID=2, Detail= Invalid Request!\r\n', 'CAMERA_PROTOCOL_ERROR', 2, 'Invalid Request!'],
    ['spaces around =', 'Error\r\nErrorID = 3 , Detail = Method not found!\r\n', 'NOT_SUPPORTED_BY_MODEL', 3, 'Method not found!'],
    ['detail with = and ,', 'Error\r\nErrorID=4, Detail=Bad value: a=b, c\r\n', 'CAMERA_REJECTED', 4, 'Bad value: a=b, c'],
    ['missing Detail: vendor text', 'Error\r\nErrorID=5\r\n', 'CAMERA_ERROR', 5, 'Server internal error!'],
    ['empty Detail: vendor text', 'Error\r\nErrorID=6, Detail=\r\n', 'CAMERA_TIMEOUT', 6, 'Request Timeout!'],
    ['no trailing newline', 'Error\r\nErrorID=0, Detail=Invalid Authority!', 'CAMERA_AUTH_FAILED', 0, 'Invalid Authority!'],
    ['leading blank line and trailing spaces', '\r\nError  \r\nErrorID=4, Detail=x \r\n', 'CAMERA_REJECTED', 4, 'x'],
    ['lower case', 'error\nerrorid=3, detail=nope\n', 'NOT_SUPPORTED_BY_MODEL', 3, 'nope'],
    ['ErrorID line without the Error line', 'ErrorID=4, Detail=Request invalid param!\r\n', 'CAMERA_REJECTED', 4, 'Request invalid param!'],
    ['unknown ErrorID', 'Error\r\nErrorID=42, Detail=Something new\r\n', 'CAMERA_REJECTED', 42, 'Something new'],
    ['unknown ErrorID, no detail', 'Error\r\nErrorID=42\r\n', 'CAMERA_REJECTED', 42, 'Camera error 42'],
    ['Error without ErrorID', 'Error\r\n', 'CAMERA_REJECTED', undefined, 'The camera answered Error'],
    ['bare Error', 'Error', 'CAMERA_REJECTED', undefined, 'The camera answered Error'],
    ['Error with free text', 'Error\r\nBad Request!\r\n', 'CAMERA_REJECTED', undefined, 'Bad Request!'],
    ['control characters in the detail cleaned', 'Error\r\nErrorID=4, Detail=a\u0000b\u001bc\r\n', 'CAMERA_REJECTED', 4, 'a b c'],
  ];
  for (const [name, body, code, id, detail] of variants) {
    it(name, () => {
      const err = cameraErrorFromBody(body);
      assert.ok(err);
      assert.equal(err.code, code);
      assert.equal(err.cameraErrorId, id);
      assert.equal(err.detail, detail);
    });
  }

  it('caps a long detail', () => {
    const err = cameraErrorFromBody(`Error\r\nErrorID=4, Detail=${'x'.repeat(5000)}\r\n`);
    assert.ok(err?.detail !== undefined && err.detail.length <= 201);
  });

  const notErrors = ['OK\r\n', '', '\r\n', 'table.General.MachineName=Error\r\n', 'Error=1\r\n', 'ErrorCount=3\r\n', 'Errors\r\n', 'sn=ABC\r\nError\r\n', '<html>Error</html>'];
  for (const body of notErrors) {
    it(`not an error: ${JSON.stringify(body)}`, () => assert.equal(cameraErrorFromBody(body), null));
  }
});

describe('cameraErrorFromStatus', () => {
  const table: Array<[number, string, ProblemCode | null, number | undefined, number | undefined]> = [
    [200, 'OK\r\n', null, undefined, undefined],
    [200, 'Error\r\nErrorID=4, Detail=x\r\n', null, undefined, undefined], // 2xx: the caller checks the body
    [204, '', null, undefined, undefined],
    [400, '', 'CAMERA_PROTOCOL_ERROR', undefined, undefined],
    [401, '', 'CAMERA_AUTH_FAILED', undefined, undefined],
    [403, '', 'CAMERA_AUTH_FAILED', undefined, undefined],
    [404, '<html>Not Found</html>', 'NOT_SUPPORTED_BY_MODEL', undefined, undefined],
    [500, '', 'CAMERA_ERROR', undefined, undefined],
    [502, '', 'CAMERA_ERROR', undefined, undefined],
    [503, '', 'CAMERA_BUSY', undefined, 1],
    [504, '', 'CAMERA_ERROR', undefined, undefined],
    [429, '', 'CAMERA_BUSY', undefined, 1],
    [408, '', 'CAMERA_TIMEOUT', undefined, undefined],
    [418, '', 'CAMERA_REJECTED', undefined, undefined],
    [302, '', 'CAMERA_PROTOCOL_ERROR', undefined, undefined],
    // An ErrorID body is more precise than the status…
    [400, 'Error\r\nErrorID=4, Detail=Request invalid param!\r\n', 'CAMERA_REJECTED', 4, undefined],
    [500, 'Error\r\nErrorID=3, Detail=Method not found!\r\n', 'NOT_SUPPORTED_BY_MODEL', 3, undefined],
    // …except where the status speaks about the connection itself.
    [401, 'Error\r\nErrorID=0, Detail=Invalid Authority!\r\n', 'CAMERA_AUTH_FAILED', 0, undefined],
    [503, 'Error\r\nErrorID=5, Detail=busy\r\n', 'CAMERA_BUSY', 5, 1],
  ];
  for (const [status, body, code, id, retryAfter] of table) {
    it(`${status} ${JSON.stringify(body.slice(0, 30))} → ${code}`, () => {
      const err = cameraErrorFromStatus(status, body);
      if (code === null) {
        assert.equal(err, null);
        return;
      }
      assert.ok(err);
      assert.equal(err.code, code);
      assert.equal(err.cameraErrorId, id);
      assert.equal(err.retryAfter, retryAfter);
      assert.ok(err.detail?.includes(String(status)) || id !== undefined);
    });
  }

  it('keeps the camera detail and never copies an HTML body', () => {
    assert.match(cameraErrorFromStatus(400, 'Error\r\nErrorID=2, Detail=Invalid Request!\r\n')?.detail ?? '', /Invalid Request!/);
    assert.equal(cameraErrorFromStatus(404, '<html><body>secret page</body></html>')?.detail, 'The camera answered HTTP 404');
  });
});

describe('transportError', () => {
  const secretUrl = 'http://admin:hunter2@10.0.0.9/cgi-bin/userManager.cgi?action=modifyPassword&pwd=hunter2';
  function withCode(message: string, code: string, name = 'Error'): Error {
    const e = new Error(message) as Error & { code: string };
    e.code = code;
    e.name = name;
    return e;
  }
  const table: Array<[string, unknown, ProblemCode, RegExp]> = [
    ['ConnectTimeoutError', new undiciErrors.ConnectTimeoutError(`Connect Timeout Error ${secretUrl}`), 'CAMERA_TIMEOUT', /UND_ERR_CONNECT_TIMEOUT/],
    ['HeadersTimeoutError', new undiciErrors.HeadersTimeoutError(secretUrl), 'CAMERA_TIMEOUT', /UND_ERR_HEADERS_TIMEOUT/],
    ['BodyTimeoutError', new undiciErrors.BodyTimeoutError(secretUrl), 'CAMERA_TIMEOUT', /UND_ERR_BODY_TIMEOUT/],
    ['RequestAbortedError', new undiciErrors.RequestAbortedError(secretUrl), 'CAMERA_TIMEOUT', /aborted/],
    ['DOMException TimeoutError (AbortSignal.timeout)', new DOMException(`signal timed out ${secretUrl}`, 'TimeoutError'), 'CAMERA_TIMEOUT', /aborted/],
    ['DOMException AbortError', new DOMException(secretUrl, 'AbortError'), 'CAMERA_TIMEOUT', /aborted/],
    ['ETIMEDOUT', withCode(`connect ETIMEDOUT ${secretUrl}`, 'ETIMEDOUT'), 'CAMERA_TIMEOUT', /ETIMEDOUT/],
    ['ECONNREFUSED', withCode(`connect ECONNREFUSED ${secretUrl}`, 'ECONNREFUSED'), 'CAMERA_UNREACHABLE', /refused.*ECONNREFUSED/],
    ['ECONNRESET', withCode(`read ECONNRESET ${secretUrl}`, 'ECONNRESET'), 'CAMERA_UNREACHABLE', /reset.*ECONNRESET/],
    ['EHOSTUNREACH', withCode(secretUrl, 'EHOSTUNREACH'), 'CAMERA_UNREACHABLE', /EHOSTUNREACH/],
    ['ENOTFOUND', withCode(secretUrl, 'ENOTFOUND'), 'CAMERA_UNREACHABLE', /ENOTFOUND/],
    ['SocketError', new undiciErrors.SocketError(`other side closed ${secretUrl}`), 'CAMERA_UNREACHABLE', /UND_ERR_SOCKET/],
    ['ClientDestroyedError', new undiciErrors.ClientDestroyedError(), 'CAMERA_UNREACHABLE', /UND_ERR_DESTROYED/],
    ['fetch failed with a cause', new TypeError(`fetch failed ${secretUrl}`, { cause: withCode(secretUrl, 'ECONNREFUSED') }), 'CAMERA_UNREACHABLE', /ECONNREFUSED/],
    [
      'AggregateError of every address tried',
      Object.assign(new AggregateError([withCode(secretUrl, 'ECONNREFUSED'), withCode(secretUrl, 'ECONNREFUSED')], secretUrl), {}),
      'CAMERA_UNREACHABLE',
      /ECONNREFUSED/,
    ],
    ['HTTPParserError', Object.assign(new undiciErrors.HTTPParserError(secretUrl), { code: 'HPE_INVALID_CONSTANT' }), 'CAMERA_PROTOCOL_ERROR', /HPE_INVALID_CONSTANT/],
    ['content length mismatch', new undiciErrors.ResponseContentLengthMismatchError(), 'CAMERA_PROTOCOL_ERROR', /UND_ERR_RES_CONTENT_LENGTH_MISMATCH/],
    ['unknown Error', new Error(`boom ${secretUrl}`), 'CAMERA_UNREACHABLE', /^the camera connection failed$/],
    ['unknown undici error', new undiciErrors.UndiciError(secretUrl), 'CAMERA_UNREACHABLE', /\(UND_ERR\)/],
    ['a code that could carry text', withCode(secretUrl, secretUrl), 'CAMERA_UNREACHABLE', /^the camera connection failed$/],
    ['a string', secretUrl, 'CAMERA_UNREACHABLE', /^the camera connection failed$/],
    ['undefined', undefined, 'CAMERA_UNREACHABLE', /^the camera connection failed$/],
  ];
  for (const [name, err, code, detail] of table) {
    it(`${name} → ${code}`, () => {
      const p = transportError(err);
      assert.ok(p instanceof ProblemError);
      assert.equal(p.code, code);
      assert.match(p.detail ?? '', detail);
      const rendered = JSON.stringify(p.toJSON()) + p.message;
      for (const leak of ['hunter2', 'admin', '?', 'cgi-bin', '10.0.0.9']) assert.ok(!rendered.includes(leak), `${leak} leaked: ${rendered}`);
      assert.equal(p.cause, undefined);
    });
  }

  it('passes a ProblemError through', () => {
    const busy = new ProblemError('CAMERA_BUSY', { retryAfter: 2 });
    assert.equal(transportError(busy), busy);
  });

  it('survives a cause cycle', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    assert.equal(transportError(a).code, 'CAMERA_UNREACHABLE');
  });

  describe('real undici failures on 127.0.0.1', () => {
    const servers: Server[] = [];
    after(async () => {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    });
    async function listen(onConnection: (socket: import('node:net').Socket) => void): Promise<number> {
      const server = createServer(onConnection);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return (server.address() as import('node:net').AddressInfo).port;
    }
    async function failure(promise: Promise<unknown>): Promise<unknown> {
      try {
        await promise;
      } catch (err) {
        return err;
      }
      assert.fail('the request succeeded');
    }

    it('connection refused → CAMERA_UNREACHABLE', async () => {
      const port = await listen(() => {});
      await new Promise<void>((resolve) => (servers.pop() as Server).close(() => resolve()));
      const err = await failure(request(`http://127.0.0.1:${port}/cgi-bin/magicBox.cgi?action=getSystemInfo&pwd=hunter2`));
      const p = transportError(err);
      assert.equal(p.code, 'CAMERA_UNREACHABLE');
      assert.match(p.detail ?? '', /ECONNREFUSED/);
    });

    it('a camera that never answers → CAMERA_TIMEOUT (headersTimeout)', async () => {
      const sockets: import('node:net').Socket[] = [];
      const port = await listen((s) => sockets.push(s));
      const err = await failure(request(`http://127.0.0.1:${port}/cgi-bin/x.cgi?pwd=hunter2`, { headersTimeout: 50 }));
      sockets.forEach((s) => s.destroy());
      const p = transportError(err);
      assert.equal(p.code, 'CAMERA_TIMEOUT');
      assert.ok(!(p.detail ?? '').includes('hunter2'));
    });

    it('a camera that never answers → CAMERA_TIMEOUT (AbortSignal.timeout)', async () => {
      const sockets: import('node:net').Socket[] = [];
      const port = await listen((s) => sockets.push(s));
      const err = await failure(request(`http://127.0.0.1:${port}/cgi-bin/x.cgi`, { signal: AbortSignal.timeout(50) }));
      sockets.forEach((s) => s.destroy());
      assert.equal(transportError(err).code, 'CAMERA_TIMEOUT');
    });

    it('a dropped connection → CAMERA_UNREACHABLE', async () => {
      const port = await listen((s) => s.once('data', () => s.destroy()));
      const err = await failure(request(`http://127.0.0.1:${port}/cgi-bin/x.cgi`));
      assert.equal(transportError(err).code, 'CAMERA_UNREACHABLE');
    });

    it('garbage instead of HTTP → CAMERA_PROTOCOL_ERROR', async () => {
      const port = await listen((s) => s.once('data', () => s.end('SSH-2.0-OpenSSH\r\n\r\n')));
      const err = await failure(request(`http://127.0.0.1:${port}/cgi-bin/x.cgi`));
      assert.equal(transportError(err).code, 'CAMERA_PROTOCOL_ERROR');
    });
  });
});
