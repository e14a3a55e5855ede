// The one error catalog of camgate (design.md §5): every error a client can see has a stable
// `code` from this table, an HTTP status, and is rendered as RFC 9457 application/problem+json.

export const PROBLEMS = {
  VALIDATION_FAILED: { status: 400, title: 'Request validation failed' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  FORBIDDEN: { status: 403, title: 'Not allowed for this user' },
  NOT_FOUND: { status: 404, title: 'No such resource' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this resource' },
  CONFLICT: { status: 409, title: 'The resource already exists or changed meanwhile' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  RATE_LIMITED: { status: 429, title: 'Too many requests of this kind; see Retry-After' },
  CAMERA_REJECTED: { status: 422, title: 'The camera refused the request' },
  NOT_SUPPORTED_BY_MODEL: { status: 501, title: 'This camera model does not support the operation' },
  CAMERA_ERROR: { status: 502, title: 'The camera failed to handle the request' },
  CAMERA_PROTOCOL_ERROR: { status: 502, title: 'The camera answered something the gateway cannot read' },
  CAMERA_AUTH_FAILED: { status: 502, title: 'The camera refused the gateway credentials' },
  CAMERA_UNREACHABLE: { status: 502, title: 'The camera cannot be reached' },
  CAMERA_BUSY: { status: 503, title: 'The camera is busy; retry later' },
  CAMERA_LOCKED_OUT: { status: 503, title: 'Camera login suspended to avoid a lockout' },
  CAMERA_TIMEOUT: { status: 504, title: 'The camera did not answer in time' },
  NOT_READY: { status: 503, title: 'The gateway is not ready' },
  CONFIG_WRITE_FAILED: { status: 500, title: 'The configuration file could not be written; nothing was changed' },
  INTERNAL: { status: 500, title: 'Internal gateway error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof PROBLEMS;

/** One field of a validation failure, located by JSON pointer into the request. */
export interface FieldError {
  pointer: string;
  message: string;
}

export interface ProblemOptions {
  detail?: string;
  errors?: FieldError[];
  /** Seconds, sent as a Retry-After header (CAMERA_BUSY, CAMERA_LOCKED_OUT, RATE_LIMITED). */
  retryAfter?: number;
  /** The camera's own ErrorID (vendor document §3.4 table 3-2), when the camera said it. */
  cameraErrorId?: number;
  /** Overrides the catalog status, for the rare code that has two. */
  status?: number;
  cause?: unknown;
}

export class ProblemError extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly detail: string | undefined;
  readonly errors: FieldError[] | undefined;
  readonly retryAfter: number | undefined;
  readonly cameraErrorId: number | undefined;

  constructor(code: ProblemCode, options: ProblemOptions = {}) {
    super(options.detail ?? PROBLEMS[code].title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProblemError';
    this.code = code;
    this.status = options.status ?? PROBLEMS[code].status;
    this.detail = options.detail;
    this.errors = options.errors;
    this.retryAfter = options.retryAfter;
    this.cameraErrorId = options.cameraErrorId;
  }

  /** The problem+json body. Never contains a stack or a secret: only catalog text and details we wrote. */
  toJSON(instance?: string): Record<string, unknown> {
    const body: Record<string, unknown> = {
      type: `https://camgate.dev/problems/${this.code.toLowerCase().replaceAll('_', '-')}`,
      title: PROBLEMS[this.code].title,
      status: this.status,
      code: this.code,
    };
    if (this.detail !== undefined) body.detail = this.detail;
    if (instance !== undefined) body.instance = instance;
    if (this.errors !== undefined) body.errors = this.errors;
    if (this.cameraErrorId !== undefined) body.cameraErrorId = this.cameraErrorId;
    return body;
  }
}

export function isProblem(err: unknown): err is ProblemError {
  return err instanceof ProblemError;
}
