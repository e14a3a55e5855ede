// A streamed POST to the camera (audio.cgi postAudio, §4.3.3): the only request of the vendor
// document with a body. CameraClient signs GETs only and a streamed body cannot be sent twice,
// so the login is learned first with an empty POST (the camera answers 401 with its challenge),
// then the body goes once, signed for that nonce, on the same connection of its own (outside
// the request pool: an upload may last as long as someone talks).
import type { Readable } from 'node:stream';
import { Client } from 'undici';
import { basicAuthorization, digestAuthorization, parseChallenge } from '../cgi/digest.ts';
import { transportError } from '../cgi/errors.ts';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { ProblemError } from '../../gateway/problems.ts';

export interface PostStreamRequest {
  path: string;
  query: string;
  contentType: string;
  body: Readable;
  /** The client's Content-Length, passed on when it sent one (otherwise chunked). */
  length?: string | undefined;
  signal: AbortSignal;
}

const ANSWER_LIMIT = 64 * 1024;

export async function postStream(entry: CameraEntry, req: PostStreamRequest): Promise<{ status: number; body: string }> {
  const url = new URL(entry.connection.baseUrl);
  const uri = `${url.pathname.replace(/\/+$/, '')}${req.path}?${req.query}`;
  const client = new Client(url.origin, { connect: { timeout: 3_000 }, headersTimeout: 0, bodyTimeout: 30_000, pipelining: 1 });
  const onAbort = (): void => { client.destroy().catch(() => undefined); };
  req.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const probe = await client.request({ path: uri, method: 'POST', headers: { 'content-length': '0' }, body: '', signal: req.signal, headersTimeout: 6_000 });
    const probeText = await probe.body.text();
    const headers: Record<string, string> = { 'content-type': req.contentType };
    if (req.length !== undefined) headers['content-length'] = req.length;
    if (probe.statusCode === 401) {
      const ch = parseChallenge(probe.headers['www-authenticate']);
      if (ch === null) throw new ProblemError('CAMERA_AUTH_FAILED', { detail: 'The camera asked for an authentication scheme the gateway does not support' });
      const { username, password } = entry.connection;
      headers.authorization = ch.scheme === 'basic'
        ? basicAuthorization(username, password)
        : digestAuthorization({ challenge: ch, username, password, method: 'POST', uri, nc: 1 });
    } else if (/^\s*Error\b/.test(probeText)) {
      // The camera refused the request itself (a model without audio output): no need to send the body.
      return { status: probe.statusCode, body: probeText };
    }
    // The signed POST spends the camera's lockout budget like any other login (client.ts).
    const settle = headers.authorization === undefined ? undefined : await entry.client.signedElsewhere(req.signal);
    let res;
    try {
      res = await client.request({ path: uri, method: 'POST', headers, body: req.body, signal: req.signal });
    } catch (err) {
      settle?.(null);
      throw err;
    }
    const again = res.statusCode === 401 ? parseChallenge(res.headers['www-authenticate']) : null;
    settle?.(res.statusCode, again?.scheme === 'digest' && again.stale);
    let text = '';
    for await (const chunk of res.body) {
      text += (chunk as Buffer).toString('latin1');
      if (text.length > ANSWER_LIMIT) break;
    }
    if (res.statusCode === 401) throw new ProblemError('CAMERA_AUTH_FAILED', { detail: 'The camera refused the configured username or password' });
    return { status: res.statusCode, body: text };
  } catch (err) {
    if (req.signal.aborted) throw req.signal.reason;
    if (err instanceof ProblemError) throw err;
    throw transportError(err);
  } finally {
    req.signal.removeEventListener('abort', onAbort);
    await client.destroy().catch(() => undefined);
  }
}
