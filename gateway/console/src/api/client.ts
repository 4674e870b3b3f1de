/** The HTTP client: unwraps the `{success, data}` envelope and turns errors into ApiError. */

export interface ErrorBody {
  code: string
  message: string
  detail?: Record<string, unknown> | null
}

/** An error answered by the API (or a transport failure, code NETWORK_ERROR / TIMEOUT). */
export class ApiError extends Error {
  readonly code: string
  readonly status: number
  readonly detail: Record<string, unknown>

  constructor(status: number, body: ErrorBody) {
    super(body.message)
    this.name = 'ApiError'
    this.code = body.code
    this.status = status
    this.detail = body.detail ?? {}
  }

  /** The request field a validation error points at (last part of the first error's `loc`). */
  get field(): string | null {
    const errors = this.detail.errors
    if (!Array.isArray(errors) || errors.length === 0) return null
    const loc = (errors[0] as { loc?: unknown[] }).loc
    if (!Array.isArray(loc)) return null
    const names = loc.filter((part): part is string => typeof part === 'string' && part !== 'body')
    return names.length > 0 ? (names[names.length - 1] ?? null) : null
  }
}

export type Query = Record<string, string | number | boolean | null | undefined>

export interface RequestOptions {
  body?: unknown
  query?: Query
  timeoutMs?: number
  /** Send the session token (default true). */
  auth?: boolean
}

export interface ApiClientOptions {
  baseUrl?: string
  fetch?: typeof fetch
  getToken: () => string | null
  /** Called when an authenticated request answers 401 (token expired, revoked, rotated). */
  onUnauthorized?: (error: ApiError) => void
  defaultTimeoutMs?: number
}

export interface ApiClient {
  request<T>(method: string, path: string, options?: RequestOptions): Promise<T>
  get<T>(path: string, query?: Query): Promise<T>
  post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T>
  put<T>(path: string, body?: unknown): Promise<T>
  del<T>(path: string, body?: unknown): Promise<T>
}

function buildUrl(base: string, path: string, query?: Query): string {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value))
  }
  const qs = params.toString()
  return `${base}${path}${qs ? `?${qs}` : ''}`
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const base = options.baseUrl ?? '/api/v1'
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const defaultTimeout = options.defaultTimeoutMs ?? 30_000

  async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    const useAuth = opts.auth ?? true
    const token = useAuth ? options.getToken() : null
    if (token) headers.Authorization = `Bearer ${token}`
    let body: string | undefined
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(opts.body)
    }
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? defaultTimeout)
    let response: Response
    try {
      response = await doFetch(buildUrl(base, path, opts.query), {
        method,
        headers,
        body,
        signal: controller.signal,
      })
    } catch (err) {
      const aborted = err instanceof Error && err.name === 'AbortError'
      throw new ApiError(0, {
        code: aborted ? 'TIMEOUT' : 'NETWORK_ERROR',
        message: aborted ? 'The request timed out' : 'The server cannot be reached',
      })
    } finally {
      clearTimeout(timer)
    }
    let payload: unknown = null
    const text = await response.text()
    if (text) {
      try {
        payload = JSON.parse(text)
      } catch {
        payload = null
      }
    }
    const envelope = payload as { success?: boolean; data?: unknown; error?: ErrorBody } | null
    if (response.ok && envelope && envelope.success !== false) {
      return envelope.data as T
    }
    const error = new ApiError(
      response.status,
      envelope?.error ?? {
        code: `HTTP_${response.status}`,
        message: response.statusText || `HTTP ${response.status}`,
      },
    )
    if (response.status === 401 && token) options.onUnauthorized?.(error)
    throw error
  }

  return {
    request,
    get: (path, query) => request('GET', path, { query }),
    post: (path, body, opts) => request('POST', path, { ...opts, body }),
    put: (path, body) => request('PUT', path, { body }),
    del: (path, body) => request('DELETE', path, { body }),
  }
}
