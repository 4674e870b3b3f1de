import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { api } from '@/api'

const calls: { url: string; init: RequestInit }[] = []

beforeEach(() => {
  calls.length = 0
  localStorage.setItem('wfm.session', 'tok')
  vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => {
    calls.push({ url, init })
    return new Response(JSON.stringify({ success: true, data: {} }), { status: 200 })
  }))
})
afterEach(() => {
  vi.unstubAllGlobals()
  localStorage.clear()
})

const last = () => calls[calls.length - 1] as { url: string; init: RequestInit }

describe('api calls of the editors and tools', () => {
  it('asks for a link draft with the peer and family, and writes link groups', async () => {
    await api.links.draft('cfg_1', 'node_a', 'node_b', 'ipv6')
    expect(last().url).toBe('/api/v1/configs/cfg_1/nodes/node_a/peer-link-draft?peer_node_id=node_b&endpoint_ref_family=ipv6')
    await api.links.update('group_1', { forward: {} as never, reverse: {} as never, notes: '', enabled: true })
    expect([last().init.method, last().url]).toEqual(['PUT', '/api/v1/peer-links/group_1'])
    await api.links.remove('group_1')
    expect([last().init.method, last().url]).toEqual(['DELETE', '/api/v1/peer-links/group_1'])
  })

  it('sends a snapshot note as a bare JSON string and imports as multipart', async () => {
    await api.backups.setNote('snap_1', 'before "upgrade"')
    expect([last().init.method, last().url, last().init.body]).toEqual(['PUT', '/api/v1/backups/snap_1/note', '"before \\"upgrade\\""'])
    await api.backups.import(new File(['zip'], 'snapshot.zip'))
    const body = last().init.body as FormData
    expect(last().url).toBe('/api/v1/backups/import')
    expect((body.get('file') as File).name).toBe('snapshot.zip')
  })

  it('filters the MCP audit by dates and deletes a range with a JSON body', async () => {
    await api.mcp.audit({ limit: 100, created_from: '2025-01-01T00:00:00.000Z', created_to: undefined, token_name: '' })
    expect(last().url).toBe('/api/v1/mcp-access/audit?limit=100&created_from=2025-01-01T00%3A00%3A00.000Z')
    await api.mcp.deleteAudit('2025-01-01T00:00:00.000Z', '2025-01-02T00:00:00.000Z')
    expect(last().init.method).toBe('DELETE')
    expect(JSON.parse(String(last().init.body))).toEqual({ created_from: '2025-01-01T00:00:00.000Z', created_to: '2025-01-02T00:00:00.000Z' })
  })

  it('builds bulk packages and asks for keys', async () => {
    await api.downloads.bulkOptions('cfg_1')
    expect(last().url).toBe('/api/v1/tools/download/config-bulk/options?config_id=cfg_1')
    await api.downloads.bulkPackage('cfg_1', ['n1'])
    expect(JSON.parse(String(last().init.body))).toEqual({ config_id: 'cfg_1', node_ids: ['n1'] })
    await api.keys.derivePublic('priv=')
    expect([last().url, last().init.body]).toEqual(['/api/v1/nodes/keys/derive-public', '{"private_key":"priv="}'])
    await api.nodes.awgRandomNode({ awg_version: '2.0' })
    expect([last().init.method, last().url]).toEqual(['POST', '/api/v1/nodes/awg/random?awg_version=2.0'])
  })
})
