import { ErrorNote } from '../components/error-note';
import { Meter } from '../components/meter';
import { PageTitle } from '../components/page-title';
import { StatusBadge } from '../components/status-badge';
import { type FleetData, loadFleet, reservedByDevice, siteLoad } from '../fleet-data';
import { formatAge, formatNumber } from '../format';
import type { Site } from '../api/types';
import { usePoll } from '../use-poll';

type RoomState = 'up' | 'degraded' | 'down' | 'empty';

interface Room {
  site: Site;
  state: RoomState;
  /** Every node that is down left on purpose (its worker shut down and said so). */
  downNodesLeft: boolean;
  nodesUp: number;
  nodes: number;
  devices: Record<string, number>;
  memoryBytes: number;
  reservedBytes: number;
  running: number;
  instances: number;
  load: { rps: number; tps: number } | null;
  lastHeartbeatAtMs: number | null;
}

function rooms(data: FleetData): Room[] {
  const reserved = reservedByDevice(data.instances);
  const list = data.sites.map((site): Room => {
    const nodes = data.nodes.filter((n) => n.siteId === site.id);
    const nodeIds = new Set(nodes.map((n) => n.id));
    const up = nodes.filter((n) => n.status === 'up').length;
    const devices: Record<string, number> = {};
    let memoryBytes = 0;
    let reservedBytes = 0;
    for (const node of nodes) {
      for (const device of node.devices) {
        devices[device.kind] = (devices[device.kind] ?? 0) + 1;
        memoryBytes += device.memoryBytes;
        reservedBytes += reserved.get(`${node.id}/${device.index}`) ?? 0;
      }
    }
    const instances = data.instances.filter((i) => i.nodeId !== null && nodeIds.has(i.nodeId));
    const state: RoomState =
      nodes.length === 0 ? 'empty' : up === nodes.length ? 'up' : up === 0 ? 'down' : 'degraded';
    return {
      site,
      state,
      downNodesLeft: nodes.every((n) => n.status === 'up' || n.downReason === 'left'),
      nodesUp: up,
      nodes: nodes.length,
      devices,
      memoryBytes,
      reservedBytes,
      running: instances.filter((i) => i.state === 'running').length,
      instances: instances.length,
      load: siteLoad(data.traffic, site),
      lastHeartbeatAtMs: nodes.reduce<number | null>(
        (latest, n) =>
          n.lastHeartbeatAtMs !== null && n.lastHeartbeatAtMs > (latest ?? 0) ? n.lastHeartbeatAtMs : latest,
        null,
      ),
    };
  });
  const order: Record<RoomState, number> = { down: 0, degraded: 1, up: 2, empty: 3 };
  return list.sort((a, b) => order[a.state] - order[b.state] || a.site.name.localeCompare(b.site.name));
}

/** What the banner says of a room that is down or degraded. */
function roomTrouble(room: Room): string {
  if (room.state === 'degraded') return 'degraded';
  return room.downNodesLeft ? 'down (its workers shut down)' : 'down (cut off)';
}

/** Every room (site) at a glance: health, nodes, devices, reserved memory, instances and load. */
export function FleetPage() {
  const { data, error } = usePoll((signal) => loadFleet(signal, true), 3000, []);
  const list = data ? rooms(data) : [];
  const troubled = list.filter((r) => r.state === 'down' || r.state === 'degraded');
  const fleet = data ? siteLoad(data.traffic, '*') : null;
  return (
    <>
      <PageTitle title="Fleet" />
      <ErrorNote error={error} />
      {data && (
        <>
          <dl class="tiles" data-testid="fleet-summary">
            <div>
              <dt>Rooms</dt>
              <dd>{data.sites.length}</dd>
            </div>
            <div>
              <dt>Nodes up</dt>
              <dd>
                {data.nodes.filter((n) => n.status === 'up').length} / {data.nodes.length}
              </dd>
            </div>
            <div>
              <dt>Devices</dt>
              <dd>{data.nodes.reduce((sum, n) => sum + n.devices.length, 0)}</dd>
            </div>
            <div>
              <dt>Instances running</dt>
              <dd>
                {data.instances.filter((i) => i.state === 'running').length} / {data.instances.length}
              </dd>
            </div>
            <div>
              <dt>Requests/s (1 min)</dt>
              <dd>{fleet ? formatNumber(fleet.rps, 2) : '–'}</dd>
            </div>
            <div>
              <dt>Tokens/s (1 min)</dt>
              <dd>{fleet ? formatNumber(fleet.tps, 1) : '–'}</dd>
            </div>
          </dl>
          {troubled.length > 0 && (
            <p class="note note-error" role="alert" data-testid="fleet-alert">
              {troubled.map((r) => `${r.site.name} is ${roomTrouble(r)}`).join('; ')}
            </p>
          )}
          {list.length === 0 && <p class="muted">No rooms yet: start a worker (docs/deploy.md).</p>}
          <ul class="cards" aria-label="Rooms">
            {list.map((room) => (
              <li key={room.site.id} class={`card room room-${room.state}`} data-testid="room-card">
                <div class="card-head">
                  <h2>{room.site.name}</h2>
                  <StatusBadge status={room.state} />
                </div>
                <p class="muted">
                  {room.site.region ? `region ${room.site.region}` : 'no region'}
                  {room.state === 'down' || room.state === 'degraded'
                    ? ` · last heartbeat ${formatAge(room.lastHeartbeatAtMs)}`
                    : ''}
                </p>
                <dl class="facts">
                  <dt>Nodes</dt>
                  <dd>
                    {room.nodesUp} up of {room.nodes}
                  </dd>
                  <dt>Devices</dt>
                  <dd>
                    {Object.entries(room.devices)
                      .map(([kind, n]) => `${n} ${kind.toUpperCase()}`)
                      .join(', ') || '–'}
                  </dd>
                  <dt>Instances</dt>
                  <dd>
                    {room.running} running of {room.instances}
                  </dd>
                  <dt>Load</dt>
                  <dd>
                    {room.load
                      ? `${formatNumber(room.load.rps, 2)} req/s · ${formatNumber(room.load.tps, 1)} tok/s`
                      : '–'}
                  </dd>
                </dl>
                <Meter
                  used={room.reservedBytes}
                  total={room.memoryBytes}
                  label={`Memory reserved in ${room.site.name}`}
                />
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}
