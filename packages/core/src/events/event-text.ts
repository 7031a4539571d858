/**
 * One-line text form of events for terminals and logs: `#seq t=<ns> cpu<k> <type> field=value ...`, u64
 * fields in hex, lists and structs as compact JSON (hex inside). Also the sentence that explains a
 * `p2p.map_type` decision.
 */
import { type CKind, compiledByType, K } from './compiled-schema.ts';
import type { EventData, SimEvent } from './event-schema.ts';

function valueText(k: CKind, v: unknown): string {
  switch (k.code) {
    case K.U64:
      return `0x${(v as bigint).toString(16)}`;
    case K.OPT:
      return v === null ? 'null' : valueText(k.inner!, v);
    case K.LIST:
      return `[${(v as unknown[]).map((x) => valueText(k.inner!, x)).join(',')}]`;
    case K.STRUCT:
      return `{${k.fields!.map((f) => `${f.name}:${valueText(f.kind, (v as Record<string, unknown>)[f.name])}`).join(',')}}`;
    case K.STR:
      return /^[\x21-\x7e]*$/.test(v as string) && (v as string) !== '' ? (v as string) : JSON.stringify(v);
    default:
      return String(v);
  }
}

/** `#12 t=1000ns cpu0 iommu.map domainId=1 iova=0xffe00000 ...` */
export function formatEventLine(e: SimEvent): string {
  const ce = compiledByType(e.type);
  const data = e.data as unknown as Record<string, unknown>;
  const fields = ce ? ce.fields.map((f) => `${f.name}=${valueText(f.kind, data[f.name])}`).join(' ') : '';
  return `#${e.seq} t=${e.tNs}ns cpu${e.cpu} ${e.type} ${fields}`;
}

/** Why `pci_p2pdma_map_type` answered as it did, in a sentence (kernel-model.md 2.1-2.5). */
export function describeMapTypeDecision(d: EventData<'p2p.map_type'>): string {
  const acs = d.acsNodes.length > 0 ? `; ACS redirect on ${d.acsList}` : '';
  const common = d.commonAncestor ? `common upstream bridge ${d.commonAncestor}` : 'no common upstream bridge';
  const bridges = d.hostBridges
    .map(
      (h) =>
        `${h.hostBridge} ${h.id ?? 'no usable first function'} ${h.listed ? 'listed' : h.reason.replace('_', ' ')}`,
    )
    .join(', ');
  switch (d.decidedBy) {
    case 'no_provider_state':
      return 'the provider has no p2pdma state (not initialised, released, or no CONFIG_PCI_P2PDMA)';
    case 'non_pci_client':
      return 'the importer is not a PCI function';
    case 'cache':
      return `cached decision for this client (map-type cache key 0x${(d.cacheKey ?? 0).toString(16)})`;
    case 'common_bridge':
      return `${common}, no ACS redirect on the path: PCI bus addresses`;
    case 'cpu_rule':
      return `${common}${acs}; AMD Zen CPU (family >= 0x17): every route through the host bridge is allowed`;
    case 'whitelist':
      return `${common}${acs}; host bridge whitelisted (${bridges})`;
    case 'whitelist_same_bridge_flag':
      return `${common}${acs}; the whitelist entry requires the same host bridge (${bridges})`;
    case 'not_whitelisted':
      return `${common}${acs}; host bridge not whitelisted (${bridges})`;
  }
}
