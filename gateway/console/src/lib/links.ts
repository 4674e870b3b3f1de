/**
 * The mesh link editor's form model: filled from the API's draft (new link) or from the
 * workspace's connection (edit), turned back into the PeerLinkGroupRequest body, and the API's
 * error placed next to the field it names. No link rule is checked here: the API decides.
 */
import type { ApiError, DirectionRequest, LinkDraft, MeshConnection, PeerLinkGroupRequest } from '@/api'

export type Side = 'forward' | 'reverse'
export const SIDES: Side[] = ['forward', 'reverse']

export interface DirectionForm {
  local_node_id: string
  peer_node_id: string
  allowed_ips: string
  persistent_keepalive: number | null
  endpoint_mode: string
  endpoint_ref_family: string | null
  endpoint_manual_host: string
  endpoint_port_mode: string
  endpoint_manual_port: number | null
}

export interface LinkForm {
  forward: DirectionForm
  reverse: DirectionForm
  preshared_key: string
  notes: string
  enabled: boolean
}

type DirectionLike = Omit<DirectionRequest, 'endpoint_manual_host' | 'persistent_keepalive' | 'endpoint_manual_port'> & {
  endpoint_manual_host?: string | null
  persistent_keepalive?: number | null
  endpoint_manual_port?: number | null
}

function direction(source: DirectionLike): DirectionForm {
  return {
    local_node_id: source.local_node_id,
    peer_node_id: source.peer_node_id,
    allowed_ips: source.allowed_ips ?? '',
    persistent_keepalive: source.persistent_keepalive ?? null,
    endpoint_mode: source.endpoint_mode,
    endpoint_ref_family: source.endpoint_ref_family ?? null,
    endpoint_manual_host: source.endpoint_manual_host ?? '',
    endpoint_port_mode: source.endpoint_port_mode,
    endpoint_manual_port: source.endpoint_manual_port ?? null,
  }
}

/** A new link group from `GET …/peer-link-draft` (the API's defaults, unchanged). */
export function formFromDraft(draft: LinkDraft): LinkForm {
  return {
    forward: direction(draft.forward),
    reverse: direction(draft.reverse),
    preshared_key: '',
    notes: '',
    enabled: true,
  }
}

/**
 * An existing group as the workspace lists it. A group missing its reverse row (the API reports
 * "Missing reverse link") gets an empty mirror so saving it writes both rows again.
 */
export function formFromConnection(connection: MeshConnection): LinkForm {
  const forward = direction(connection.forward)
  const reverse = connection.reverse
    ? direction(connection.reverse)
    : direction({
        ...connection.forward,
        local_node_id: connection.forward.peer_node_id,
        peer_node_id: connection.forward.local_node_id,
        allowed_ips: '',
        persistent_keepalive: null,
      })
  return {
    forward,
    reverse,
    preshared_key: connection.preshared_key ?? '',
    notes: connection.notes ?? '',
    enabled: connection.enabled,
  }
}

const blankToNull = (value: string): string | null => (value.trim() === '' ? null : value.trim())

function directionRequest(form: DirectionForm): DirectionRequest {
  return {
    local_node_id: form.local_node_id,
    peer_node_id: form.peer_node_id,
    allowed_ips: form.allowed_ips.trim(),
    persistent_keepalive: form.persistent_keepalive,
    endpoint_mode: form.endpoint_mode,
    endpoint_ref_family: form.endpoint_ref_family,
    endpoint_manual_host: blankToNull(form.endpoint_manual_host),
    endpoint_port_mode: form.endpoint_port_mode,
    endpoint_manual_port: form.endpoint_manual_port,
  }
}

/** The body of `POST /configs/{cid}/peer-links` and `PUT /peer-links/{group_id}`. */
export function requestFromForm(form: LinkForm): PeerLinkGroupRequest {
  return {
    forward: directionRequest(form.forward),
    reverse: directionRequest(form.reverse),
    preshared_key: blankToNull(form.preshared_key),
    notes: form.notes,
    enabled: form.enabled,
  }
}

const DIRECTION_FIELDS = [
  'allowed_ips', 'persistent_keepalive', 'endpoint_mode', 'endpoint_ref_family',
  'endpoint_manual_host', 'endpoint_port_mode', 'endpoint_manual_port',
] as const

/**
 * Where the API's error belongs in the form: `forward.allowed_ips`, `preshared_key`, … or null
 * (shown above the fields). A validation error's `loc` names the side; a rule error names the
 * field in `detail` with the value it refused, which tells the side it came from.
 */
export function errorField(error: ApiError, form: LinkForm): string | null {
  const errors = error.detail.errors
  if (Array.isArray(errors) && errors.length > 0) {
    const loc = ((errors[0] as { loc?: unknown[] }).loc ?? []).filter((p): p is string => typeof p === 'string')
    const side = loc.find((p): p is Side => p === 'forward' || p === 'reverse')
    const last = loc[loc.length - 1]
    if (side && last && last !== side) return `${side}.${last}`
    if (last && last !== 'body') return last
  }
  for (const field of DIRECTION_FIELDS) {
    if (!(field in error.detail)) continue
    const refused = error.detail[field]
    const side = SIDES.find((s) => {
      const mine = form[s][field]
      return mine === refused || (typeof mine === 'string' && typeof refused === 'string' && mine.trim() === refused.trim())
    })
    return `${side ?? 'forward'}.${field}`
  }
  return null
}
