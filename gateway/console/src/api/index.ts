/** Typed calls of the management API (`/api/v1`), one function per operation the console uses. */
import { ApiError, createApiClient, type ApiClient } from './client'
import type { components } from './schema'

export { ApiError }
export type S = components['schemas']
export type ConfigRead = S['ConfigRead']
export type ConfigOverview = S['ConfigOverview']
export type NodeRead = S['NodeRead']
export type NodeCard = S['NodeCard']
export type RuntimeSnapshotItem = S['RuntimeSnapshotItem']
export type SystemStatus = S['SystemStatus']
export type EndpointStatus = S['EndpointStatusRead']
export type ControlLog = S['ControlLogRead']
export type PortForwardRule = S['PortForwardRead']
export type McpToken = S['McpTokenRead']
export type McpTokenCreated = S['McpTokenCreated']
export type McpAudit = S['McpAuditRead']
export type AuthState = S['AuthState']
export type TokenSession = S['TokenSession']
export type MqttSettings = S['MqttSettings']
export type QuickMeshRequest = S['QuickMeshRequestModel']

export type SnapshotRead = S['SnapshotRead']
export type MeshConnection = S['MeshConnectionRead']
export type LinkDraft = S['LinkDraftRead']
export type PeerLinkGroupRequest = S['PeerLinkGroupRequest']
export type DirectionRequest = S['DirectionRequest']
export type ClientOptions = S['ClientOptions']
export type BulkOptions = S['BulkOptions']
export type McpAuditQuery = {
  limit?: number
  token_name?: string
  target_name?: string
  created_from?: string
  created_to?: string
}

const TOKEN_KEY = 'wfm.session'

export const tokenStore = {
  get: (): string | null => globalThis.localStorage?.getItem(TOKEN_KEY) ?? null,
  set: (token: string | null): void => {
    if (token) globalThis.localStorage?.setItem(TOKEN_KEY, token)
    else globalThis.localStorage?.removeItem(TOKEN_KEY)
  },
}

let unauthorizedHandler: ((error: ApiError) => void) | null = null
export function onUnauthorized(handler: (error: ApiError) => void): void {
  unauthorizedHandler = handler
}

export const http: ApiClient = createApiClient({
  getToken: tokenStore.get,
  onUnauthorized: (error) => unauthorizedHandler?.(error),
})

const enc = encodeURIComponent
const node = (cid: string, nid: string) => `/configs/${enc(cid)}/nodes/${enc(nid)}`

export const api = {
  auth: {
    state: () => http.get<AuthState>('/auth/state'),
    setup: (password: string, locale: string) =>
      http.post<TokenSession>('/auth/setup', { password, locale }, { auth: false }),
    login: (password: string) =>
      http.post<TokenSession>('/auth/login', { username: 'admin', password }, { auth: false }),
    logout: () => http.post<S['MessageRead']>('/auth/logout'),
    changePassword: (current_password: string, new_password: string) =>
      http.post<TokenSession>('/auth/password', { current_password, new_password }),
  },
  system: {
    status: () => http.get<SystemStatus>('/system/status'),
    health: () => http.get<S['HealthRead']>('/system/health'),
  },
  events: {
    ticket: () => http.post<S['StreamTicketRead']>('/events/ticket'),
  },
  settings: {
    ui: () => http.get<S['UiSettings']>('/settings/ui'),
    saveUi: (body: S['UiSettingsUpdate']) => http.put<S['UiSettings']>('/settings/ui', body),
    mqtt: () => http.get<MqttSettings>('/settings/mqtt'),
    saveMqtt: (body: MqttSettings) => http.put<MqttSettings>('/settings/mqtt', body),
    resetMqtt: () => http.post<MqttSettings>('/settings/mqtt/reset'),
    testMqtt: (body: MqttSettings) => http.post<S['MqttTestResult']>('/settings/mqtt/test', body),
  },
  configs: {
    list: () => http.get<ConfigRead[]>('/configs'),
    get: (cid: string) => http.get<ConfigRead>(`/configs/${enc(cid)}`),
    create: (body: S['ConfigRequest']) => http.post<ConfigRead>('/configs', body),
    update: (cid: string, body: S['ConfigRequest']) =>
      http.put<S['ConfigUpdateResult']>(`/configs/${enc(cid)}`, body),
    remove: (cid: string) => http.del<S['ConfigDeleteResult']>(`/configs/${enc(cid)}`),
    overview: (cid: string) => http.get<ConfigOverview>(`/configs/${enc(cid)}/overview`),
    protocolOptions: () => http.get<S['ProtocolOptions']>('/configs/protocol-options'),
    syncAll: (cid: string) => http.post<S['SyncAllResult']>(`/configs/${enc(cid)}/sync-all`),
    validateMesh: (cid: string) =>
      http.post<S['MeshValidationRead']>(`/configs/${enc(cid)}/mesh/validate`),
    quickMesh: (cid: string, body: QuickMeshRequest) =>
      http.post<S['QuickMeshResult']>(`/configs/${enc(cid)}/mesh/quick-generate`, body, {
        timeoutMs: 120_000,
      }),
    peerLinks: (cid: string) => http.get<S['PeerLinkRead'][]>(`/configs/${enc(cid)}/peer-links`),
    runtimeSnapshot: (cid: string) =>
      http.get<RuntimeSnapshotItem[]>(`/configs/${enc(cid)}/endpoint/runtime-snapshot`),
  },
  links: {
    draft: (cid: string, nid: string, peer_node_id: string, endpoint_ref_family: string) =>
      http.get<LinkDraft>(`${node(cid, nid)}/peer-link-draft`, { peer_node_id, endpoint_ref_family }),
    create: (cid: string, body: PeerLinkGroupRequest) =>
      http.post<S['PeerLinkRead'][]>(`/configs/${enc(cid)}/peer-links`, body),
    update: (groupId: string, body: PeerLinkGroupRequest) =>
      http.put<S['PeerLinkRead'][]>(`/peer-links/${enc(groupId)}`, body),
    remove: (groupId: string) => http.del<S['MessageRead']>(`/peer-links/${enc(groupId)}`),
    generatePsk: () => http.post<S['PresharedKeyRead']>('/peer-links/psk/generate'),
  },
  keys: {
    generate: () => http.post<S['KeyPair']>('/nodes/keys/generate'),
    derivePublic: (private_key: string) =>
      http.post<S['KeyPair']>('/nodes/keys/derive-public', { private_key }),
  },
  downloads: {
    clientOptions: () => http.get<ClientOptions>('/tools/download/client-options'),
    clientGrant: (body: S['ClientArtifactRequest']) =>
      http.post<S['ClientArtifactGrant']>('/tools/download/client-artifacts/download-grant', body),
    bulkOptions: (config_id?: string | null) =>
      http.get<BulkOptions>('/tools/download/config-bulk/options', { config_id }),
    bulkPackage: (config_id: string, node_ids: string[]) =>
      http.post<S['BulkPackageRead']>('/tools/download/config-bulk/package', { config_id, node_ids }, {
        timeoutMs: 120_000,
      }),
    /** A file route that takes the session Bearer (absolute `/api/...` path). */
    file: (path: string) => http.download(path, { timeoutMs: 120_000 }),
  },
  nodes: {
    awgRandomNode: (query: { awg_version: string; direction?: string; intensity?: string }) =>
      http.post<S['AwgNodeParams']>('/nodes/awg/random', undefined, { query }),
    list: (cid: string) => http.get<NodeRead[]>(`/configs/${enc(cid)}/nodes`),
    get: (nid: string) => http.get<NodeRead>(`/nodes/${enc(nid)}`),
    create: (cid: string, body: S['NodeRequest']) =>
      http.post<NodeRead>(`/configs/${enc(cid)}/nodes`, body),
    update: (nid: string, body: S['NodeRequest']) =>
      http.put<S['NodeUpdateResult']>(`/nodes/${enc(nid)}`, body),
    remove: (nid: string) => http.del<S['NodeDeleteResult']>(`/nodes/${enc(nid)}`),
    suggestIp: (cid: string) => http.post<S['IpSuggestion']>(`/configs/${enc(cid)}/nodes/suggest-ip`),
    meshWorkspace: (cid: string, nid: string) =>
      http.get<S['MeshWorkspaceRead']>(`${node(cid, nid)}/mesh-workspace`),
    preview: (cid: string, nid: string) => http.get<S['WgPreview']>(`${node(cid, nid)}/wg-preview`),
    syncStatus: (cid: string, nid: string) =>
      http.get<S['SyncStatus']>(`${node(cid, nid)}/sync-status`),
    appliedConf: (cid: string, nid: string) =>
      http.get<S['AppliedConf']>(`${node(cid, nid)}/applied-conf`),
    sync: (cid: string, nid: string) => http.post<S['SyncResult']>(`${node(cid, nid)}/sync`),
    downloadToken: (cid: string, nid: string) =>
      http.post<S['DownloadTokenRead']>(`${node(cid, nid)}/download-token`),
    downloadPackage: (cid: string, nid: string) =>
      http.get<S['NodeDownloadPackage']>(`${node(cid, nid)}/download-package`),
  },
  endpoints: {
    status: (cid: string, nid: string) =>
      http.get<EndpointStatus>(`${node(cid, nid)}/endpoint/status`),
    logs: (cid: string, nid: string) => http.get<ControlLog[]>(`${node(cid, nid)}/endpoint/logs`),
    control: (cid: string, nid: string, action: string) =>
      http.post<S['ControlResult']>(`${node(cid, nid)}/endpoint/control`, { action }),
    bindCommand: (cid: string, nid: string, server_url: string) =>
      http.post<S['BindCommandRead']>(`${node(cid, nid)}/bind-command`, { server_url }),
    resetClient: (cid: string, nid: string) =>
      http.post<S['ResetClientResult']>(`${node(cid, nid)}/reset-client`),
    agentGrant: () =>
      http.post<S['ClientArtifactGrant']>('/tools/download/client-artifacts/download-grant', {}),
  },
  portForwards: {
    list: (cid: string) => http.get<PortForwardRule[]>(`/tools/port-forwards/configs/${enc(cid)}`),
    create: (cid: string, body: S['PortForwardRequest']) =>
      http.post<PortForwardRule>(`/tools/port-forwards/configs/${enc(cid)}`, body),
    remove: (id: string) => http.del<S['MessageRead']>(`/tools/port-forwards/${enc(id)}`),
    setEnabled: (id: string, enabled: boolean) =>
      http.put<PortForwardRule>(`/tools/port-forwards/${enc(id)}/enabled`, { enabled }),
  },
  mcp: {
    tokens: () => http.get<McpToken[]>('/mcp-access/tokens'),
    create: (body: S['McpTokenCreateRequest']) =>
      http.post<McpTokenCreated>('/mcp-access/tokens', body),
    revoke: (id: string) => http.post<McpToken>(`/mcp-access/tokens/${enc(id)}/revoke`),
    audit: (query: McpAuditQuery) => http.get<McpAudit[]>('/mcp-access/audit', query),
    deleteAudit: (created_from: string, created_to: string) =>
      http.del<S['McpAuditDeleteResult']>('/mcp-access/audit', { created_from, created_to }),
  },
  backups: {
    list: () => http.get<SnapshotRead[]>('/backups/list'),
    create: (note: string, password: string) =>
      http.post<SnapshotRead>('/backups/snapshot', { note, password }, { timeoutMs: 120_000 }),
    restore: (id: string, password: string) =>
      http.post<S['SnapshotRestoreResult']>(`/backups/restore/${enc(id)}`, { password }, {
        timeoutMs: 300_000,
      }),
    remove: (id: string) => http.del<S['SnapshotDeleteResult']>(`/backups/${enc(id)}`),
    /** The body is the note itself as a JSON string. */
    setNote: (id: string, note: string) => http.put<SnapshotRead>(`/backups/${enc(id)}/note`, note),
    import: (file: File) => {
      const form = new FormData()
      form.append('file', file, file.name)
      return http.upload<SnapshotRead>('/backups/import', form, { timeoutMs: 300_000 })
    },
    downloadGrant: (id: string) =>
      http.post<S['SnapshotDownloadGrant']>(`/backups/download-grant/${enc(id)}`),
  },
}
