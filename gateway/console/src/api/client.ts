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

  /**
   * The request field the error points at: the last part of the first validation error's `loc`,
   * or `detail.field` when the API names it (e.g. INVALID_KEY → private_key).
   */
  get field(): string | null {
    const errors = this.detail.errors
    if (typeof this.detail.field === 'string' && this.detail.field) return this.detail.field
    if (!Array.isArray(errors) || errors.length === 0) return null
    const loc = (errors[0] as { loc?: unknown[] }).loc
    if (!Array.isArray(loc)) return null
    const names = loc.filter((part): part is string => typeof part === 'string' && part !== 'body')
    return names.length > 0 ? (names[names.length - 1] ?? null) : null
  }
}

export type Query = Record<string, string | number | boolean | null | undefined>

export interface RequestOptions {
  /** A JSON body, or a FormData sent as multipart/form-data. */
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
  /** POST a multipart form (file uploads). */
  upload<T>(path: string, form: FormData, options?: RequestOptions): Promise<T>
  /** GET a file with the session token (an absolute `/api/...` path); errors as ApiError. */
  download(path: string, options?: RequestOptions): Promise<DownloadedFile>
}

export interface DownloadedFile {
  blob: Blob
  /** From Content-Disposition, when the server names the file. */
  filename: string | null
}

/** The file name of a `Content-Disposition: attachment; filename="…"` header. */
export function dispositionFilename(header: string | null): string | null {
  if (!header) return null
  const star = /filename\*=(?:UTF-8'')?([^;]+)/i.exec(header)
  if (star?.[1]) {
    try {
      return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ''))
    } catch {
      // fall through to the plain parameter
    }
  }
  const plain = /filename="?([^";]+)"?/i.exec(header)
  return plain?.[1]?.trim() || null
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

  async function send(method: string, url: string, opts: RequestOptions, accept: string) {
    const headers: Record<string, string> = { Accept: accept }
    const useAuth = opts.auth ?? true
    const token = useAuth ? options.getToken() : null
    if (token) headers.Authorization = `Bearer ${token}`
    let body: string | FormData | undefined
    if (opts.body instanceof FormData) {
      body = opts.body // the browser sets the multipart boundary
    } else if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(opts.body)
    }
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? defaultTimeout)
    try {
      const response = await doFetch(url, { method, headers, body, signal: controller.signal })
      return { response, token }
    } catch (err) {
      const aborted = err instanceof Error && err.name === 'AbortError'
      throw new ApiError(0, {
        code: aborted ? 'TIMEOUT' : 'NETWORK_ERROR',
        message: aborted ? 'The request timed out' : 'The server cannot be reached',
      })
    } finally {
      clearTimeout(timer)
    }
  }

  async function failure(response: Response, token: string | null): Promise<ApiError> {
    let envelope: { error?: ErrorBody } | null = null
    try {
      envelope = JSON.parse(await response.text()) as { error?: ErrorBody }
    } catch {
      envelope = null
    }
    const error = new ApiError(
      response.status,
      envelope?.error ?? {
        code: `HTTP_${response.status}`,
        message: response.statusText || `HTTP ${response.status}`,
      },
    )
    if (response.status === 401 && token) options.onUnauthorized?.(error)
    return error
  }

  async function download(path: string, opts: RequestOptions = {}): Promise<DownloadedFile> {
    const { response, token } = await send('GET', buildUrl('', path, opts.query), opts, '*/*')
    if (!response.ok) throw await failure(response, token)
    return {
      blob: await response.blob(),
      filename: dispositionFilename(response.headers.get('Content-Disposition')),
    }
  }

  async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const { response, token } = await send(method, buildUrl(base, path, opts.query), opts, 'application/json')
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
    upload: (path, form, opts) => request('POST', path, { ...opts, body: form }),
    download,
  }
}
