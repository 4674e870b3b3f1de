import { describe, expect, it } from 'vitest'
import { ApiError, type LinkDraft, type MeshConnection } from '@/api'
import { errorField, formFromConnection, formFromDraft, requestFromForm } from '@/lib/links'

const dir = (local: string, peer: string, extra: Record<string, unknown> = {}) => ({
  local_node_id: local, peer_node_id: peer, allowed_ips: `${peer}/32`, persistent_keepalive: 25,
  endpoint_mode: 'auto', endpoint_ref_family: 'ipv4', endpoint_manual_host: '', endpoint_port_mode: 'ref_peer_listen_port',
  endpoint_manual_port: null, endpoint_summary: 'Auto uses 203.0.113.2:51820', keepalive_display: '25', ...extra,
})
const brief = (id: string) => ({ id, name: id, enabled: true, virtual_ip: null, ipv4_address: null, ipv6_address: null }) as unknown as LinkDraft['peer_node']

const draft: LinkDraft = {
  local_node: brief('a'), peer_node: brief('b'), endpoint_ref_family: 'ipv4',
  forward: dir('a', 'b'), reverse: dir('b', 'a', { persistent_keepalive: null }),
  warnings: ['a has no public IPV4 entry. Reverse auto Endpoint will be empty.'],
}

describe('mesh link form', () => {
  it('takes the API draft as is and sends it back as a link group request', () => {
    const form = formFromDraft(draft)
    expect(form.enabled).toBe(true)
    expect(form.forward.allowed_ips).toBe('b/32')
    form.forward.endpoint_manual_host = '  '
    form.preshared_key = ''
    form.notes = 'lab'
    const body = requestFromForm(form)
    expect(body).toEqual({
      forward: {
        local_node_id: 'a', peer_node_id: 'b', allowed_ips: 'b/32', persistent_keepalive: 25, endpoint_mode: 'auto',
        endpoint_ref_family: 'ipv4', endpoint_manual_host: null, endpoint_port_mode: 'ref_peer_listen_port', endpoint_manual_port: null,
      },
      reverse: {
        local_node_id: 'b', peer_node_id: 'a', allowed_ips: 'a/32', persistent_keepalive: null, endpoint_mode: 'auto',
        endpoint_ref_family: 'ipv4', endpoint_manual_host: null, endpoint_port_mode: 'ref_peer_listen_port', endpoint_manual_port: null,
      },
      preshared_key: null,
      notes: 'lab',
      enabled: true,
    })
    expect(body.forward).not.toHaveProperty('endpoint_summary')
  })

  it('edits a connection, mirroring a missing reverse row', () => {
    const connection = {
      link_group_id: 'group_1', peer_node: brief('b'), enabled: false, has_preshared_key: true, preshared_key: 'psk=',
      notes: 'n', updated_at: null, forward: { ...dir('a', 'b', { endpoint_mode: 'manual', endpoint_manual_host: 'vpn.example', endpoint_port_mode: 'manual', endpoint_manual_port: 4500 }), link_id: 'plink_1' },
      reverse: null, integrity_status: 'healthy', integrity_message: '', duplicate_enabled_pair: false, duplicate_message: '',
      readonly: false, peer_disabled: false,
    } as MeshConnection
    const form = formFromConnection(connection)
    expect([form.enabled, form.preshared_key, form.notes]).toEqual([false, 'psk=', 'n'])
    expect(form.forward.endpoint_manual_host).toBe('vpn.example')
    expect([form.reverse.local_node_id, form.reverse.peer_node_id, form.reverse.allowed_ips]).toEqual(['b', 'a', ''])
    const body = requestFromForm(form)
    expect(body.forward.endpoint_manual_port).toBe(4500)
    expect(body.preshared_key).toBe('psk=')
  })

  it('places the API error next to the field and side it names', () => {
    const form = formFromDraft(draft)
    form.reverse.allowed_ips = 'bogus'
    const rule = new ApiError(400, { code: 'INVALID_PEER_LINK', message: 'AllowedIPs is required', detail: { allowed_ips: 'bogus' } })
    expect(errorField(rule, form)).toBe('reverse.allowed_ips')
    form.forward.endpoint_manual_port = 70000
    const port = new ApiError(400, { code: 'INVALID_ENDPOINT', message: 'Endpoint port must be between 1 and 65535.', detail: { endpoint_manual_port: 70000 } })
    expect(errorField(port, form)).toBe('forward.endpoint_manual_port')
    const validation = new ApiError(422, { code: 'VALIDATION_ERROR', message: 'x', detail: { errors: [{ loc: ['body', 'reverse', 'persistent_keepalive'] }] } })
    expect(errorField(validation, form)).toBe('reverse.persistent_keepalive')
    const top = new ApiError(422, { code: 'VALIDATION_ERROR', message: 'x', detail: { errors: [{ loc: ['body', 'notes'] }] } })
    expect(errorField(top, form)).toBe('notes')
    const plain = new ApiError(400, { code: 'INVALID_ENDPOINT', message: 'Manual Endpoint requires Host and Port.' })
    expect(errorField(plain, form)).toBeNull()
  })
})
