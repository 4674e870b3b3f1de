import { describe, expect, it, vi } from 'vitest'
import { ApiError, createApiClient, dispositionFilename } from '@/api/client'

function reply(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

describe('api client', () => {
  it('unwraps the success envelope and sends the bearer token and JSON body', async () => {
    const fetch = vi.fn(async () => reply(200, { success: true, data: { id: 'cfg_1' } }))
    const client = createApiClient({ fetch, getToken: () => 'tok' })
    const data = await client.post<{ id: string }>('/configs', { name: 'lab' })
    expect(data).toEqual({ id: 'cfg_1' })
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/configs')
    expect(init.method).toBe('POST')
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer tok')
    expect(init.body).toBe('{"name":"lab"}')
  })

  it('builds query strings and skips empty values', async () => {
    const fetch = vi.fn(async (_url: string, _init?: RequestInit) => reply(200, { success: true, data: [] }))
    const client = createApiClient({ fetch: fetch as unknown as typeof globalThis.fetch, getToken: () => null })
    await client.get('/mcp-access/audit', { limit: 100, token_name: '', target_name: 'x y' })
    expect(fetch.mock.calls[0]?.[0]).toBe('/api/v1/mcp-access/audit?limit=100&target_name=x+y')
    const init = fetch.mock.calls[0]?.[1] as RequestInit
    expect((init.headers as Record<string, string>).Authorization).toBeUndefined()
  })

  it('turns the error envelope into ApiError with code, message, status and detail', async () => {
    const fetch = vi.fn(async () =>
      reply(409, { success: false, error: { code: 'CONFIG_NAME_EXISTS', message: 'Config name already exists', detail: { name: 'lab' } } }),
    )
    const client = createApiClient({ fetch, getToken: () => 'tok' })
    const error = await client.post('/configs', {}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    const api = error as ApiError
    expect([api.code, api.message, api.status, api.detail]).toEqual(['CONFIG_NAME_EXISTS', 'Config name already exists', 409, { name: 'lab' }])
    expect(api.field).toBeNull()
  })

  it('points validation errors at the field of their loc', async () => {
    const fetch = vi.fn(async () =>
      reply(422, { success: false, error: { code: 'VALIDATION_ERROR', message: 'From port must be ≥ 1', detail: { errors: [{ loc: ['body', 'from_port'], msg: 'x' }] } } }),
    )
    const client = createApiClient({ fetch, getToken: () => 'tok' })
    const error = (await client.post('/x').catch((e: unknown) => e)) as ApiError
    expect(error.field).toBe('from_port')
  })

  it('reports 401 on an authenticated call, not on a login attempt', async () => {
    const onUnauthorized = vi.fn()
    const fetch = vi.fn(async () => reply(401, { success: false, error: { code: 'TOKEN_EXPIRED', message: 'Token expired' } }))
    const client = createApiClient({ fetch, getToken: () => 'tok', onUnauthorized })
    await client.get('/configs').catch(() => undefined)
    expect(onUnauthorized).toHaveBeenCalledTimes(1)
    await client.post('/auth/login', {}, { auth: false }).catch(() => undefined)
    expect(onUnauthorized).toHaveBeenCalledTimes(1)
  })

  it('maps transport failures and non-JSON answers to ApiError', async () => {
    const down = createApiClient({ fetch: vi.fn(async () => { throw new TypeError('fetch failed') }), getToken: () => null })
    expect(((await down.get('/x').catch((e: unknown) => e)) as ApiError).code).toBe('NETWORK_ERROR')
    const proxy = createApiClient({ fetch: vi.fn(async () => new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })), getToken: () => null })
    const error = (await proxy.get('/x').catch((e: unknown) => e)) as ApiError
    expect([error.code, error.status, error.message]).toEqual(['HTTP_502', 502, 'Bad Gateway'])
  })
})

describe('api client: files and field hints', () => {
  it('uploads FormData without forcing a JSON content type', async () => {
    const fetch = vi.fn(async (_url: string, _init?: RequestInit) => reply(200, { success: true, data: { id: 'snap_1' } }))
    const client = createApiClient({ fetch: fetch as unknown as typeof globalThis.fetch, getToken: () => 'tok' })
    const form = new FormData()
    form.append('file', new Blob(['zip']), 'a.zip')
    expect(await client.upload('/backups/import', form)).toEqual({ id: 'snap_1' })
    const init = fetch.mock.calls[0]?.[1] as RequestInit
    expect(init.body).toBe(form)
    expect((init.headers as Record<string, string>)['Content-Type']).toBeUndefined()
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer tok')
  })

  it('downloads a file with the session and reads its name; errors stay ApiError', async () => {
    const fetch = vi.fn(async (url: string) =>
      url.endsWith('/ok')
        ? new Response('PK', { status: 200, headers: { 'Content-Disposition': 'attachment; filename="wg-configs-lab.zip"' } })
        : reply(404, { success: false, error: { code: 'CONFIG_BULK_PACKAGE_NOT_FOUND', message: 'Bulk package not found or expired; build it again' } }),
    )
    const client = createApiClient({ fetch: fetch as unknown as typeof globalThis.fetch, getToken: () => 'tok' })
    const file = await client.download('/api/v1/tools/download/config-bulk/ok')
    expect(fetch.mock.calls[0]?.[0]).toBe('/api/v1/tools/download/config-bulk/ok')
    expect(file.filename).toBe('wg-configs-lab.zip')
    expect(await file.blob.text()).toBe('PK')
    const error = (await client.download('/api/v1/tools/download/config-bulk/gone').catch((e: unknown) => e)) as ApiError
    expect([error.code, error.status]).toEqual(['CONFIG_BULK_PACKAGE_NOT_FOUND', 404])
  })

  it('reads file names from Content-Disposition', () => {
    expect(dispositionFilename(null)).toBeNull()
    expect(dispositionFilename('attachment; filename="a b.zip"')).toBe('a b.zip')
    expect(dispositionFilename("attachment; filename*=UTF-8''%E5%BF%AB.zip; filename=\"x.zip\"")).toBe('快.zip')
  })

  it('points an error at detail.field when the API names it', () => {
    const error = new ApiError(400, { code: 'INVALID_KEY', message: 'Public key does not match the private key', detail: { field: 'public_key' } })
    expect(error.field).toBe('public_key')
  })
})
