import L from 'leaflet';
import type { ConsoleContext, ConsoleView } from './console-context.ts';
import { h, replace, table } from './dom.ts';
import { ALERT_TYPE_LABELS, dateTime, KIND_LABELS, label, STATE_LABELS } from './format.ts';

/**
 * The live map: every device placed by the registry, coloured by its state (the worst open alert), refreshed by
 * asking only what changed since the last cursor. Leaflet draws on a canvas (thousands of markers stay fast); the
 * devices in alert are also listed beside the map (readable without the map, and by screen readers). With no tile
 * server configured, or offline, the markers show on a plain background.
 */

/** Map settings from the page. */
export interface MapSettings {
  readonly tileUrl: string;
  readonly tileAttribution: string;
  readonly center: { readonly lat: number; readonly lon: number };
  readonly zoom: number;
}

/** A device as `/api/console/devices` shows it. */
interface Device {
  readonly deviceId: string;
  readonly kind: string;
  readonly district: string | null;
  readonly lat: number | null;
  readonly lon: number | null;
  readonly active: boolean;
  readonly state: 'ok' | 'info' | 'warning' | 'critical' | 'inactive';
  readonly alerts: ReadonlyArray<{ alertId: string; type: string; severity: string; summary: string; since: string }>;
  readonly updatedAt: string;
}

const COLORS: Readonly<Record<Device['state'], string>> = {
  ok: '#2e7d32',
  info: '#1d5fa8',
  warning: '#e69100',
  critical: '#c62828',
  inactive: '#8a9199',
};
const RANK: Readonly<Record<Device['state'], number>> = { critical: 0, warning: 1, info: 2, inactive: 3, ok: 4 };

/** The map view. */
export function mapView(ctx: ConsoleContext, settings: MapSettings): ConsoleView {
  const container = h('div', { id: 'map', role: 'region', 'aria-label': 'Carte des équipements' });
  const unplaced = h('p', { class: 'muted' });
  const listBody = h('tbody');
  const legend = h(
    'div',
    { class: 'legend' },
    ...(['ok', 'warning', 'critical', 'inactive'] as const).map((s) => {
      const item = h('span', {}, label(STATE_LABELS, s));
      item.style.setProperty('--c', COLORS[s]);
      return item;
    }),
  );
  const element = h(
    'section',
    { 'aria-labelledby': 'map-title' },
    h('h1', { id: 'map-title' }, 'Carte des équipements'),
    h(
      'div',
      { class: 'split' },
      h('div', {}, container, legend, unplaced),
      h(
        'div',
        {},
        h('h2', {}, 'Équipements en alerte'),
        table({ 'data-test': 'devices-in-alert' }, ['Équipement', 'État', 'Alertes'], listBody),
      ),
    ),
  );

  const devices = new Map<string, Device>();
  const markers = new Map<string, L.CircleMarker>();
  let map: L.Map | undefined;
  let cursor: string | undefined;
  let fitted = false;

  const popup = (d: Device) =>
    h(
      'div',
      {},
      h('strong', {}, d.deviceId),
      h('div', {}, `${label(KIND_LABELS, d.kind)}${d.district ? ` · ${d.district}` : ''}`),
      h('div', {}, h('span', { class: `badge ${d.state}` }, label(STATE_LABELS, d.state))),
      ...d.alerts.map((a) =>
        h('div', {}, `${label(ALERT_TYPE_LABELS, a.type)} depuis ${dateTime(a.since, ctx.timeZone)}`),
      ),
      d.kind === 'water-meter' ? h('a', { href: `#compteur/${d.deviceId}` }, 'Consommation') : null,
    );

  const place = (d: Device) => {
    if (!map) return;
    const marker = markers.get(d.deviceId);
    if (d.lat === null || d.lon === null) {
      marker?.remove();
      markers.delete(d.deviceId);
      return;
    }
    const style = {
      radius: d.state === 'ok' ? 5 : 8,
      color: '#ffffff',
      weight: 1,
      fillColor: COLORS[d.state],
      fillOpacity: 0.9,
    };
    if (marker) {
      marker.setLatLng([d.lat, d.lon]).setStyle(style).setRadius(style.radius);
      marker.setPopupContent(popup(d));
      if (d.state !== 'ok') marker.bringToFront();
    } else {
      const created = L.circleMarker([d.lat, d.lon], style).bindPopup(() => popup(devices.get(d.deviceId) ?? d));
      created.addTo(map);
      markers.set(d.deviceId, created);
    }
  };

  const renderList = () => {
    const inAlert = [...devices.values()]
      .filter((d) => d.state !== 'ok' && d.state !== 'inactive')
      .sort((a, b) => RANK[a.state] - RANK[b.state] || a.deviceId.localeCompare(b.deviceId));
    replace(
      listBody,
      ...(inAlert.length === 0
        ? [h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'Aucun équipement en alerte.'))]
        : inAlert.slice(0, 200).map((d) =>
            h(
              'tr',
              { 'data-device': d.deviceId },
              h(
                'td',
                {},
                h(
                  'a',
                  {
                    href: d.kind === 'water-meter' ? `#compteur/${d.deviceId}` : '#carte',
                    onclick: () => {
                      if (map && d.lat !== null && d.lon !== null) {
                        map.setView([d.lat, d.lon], Math.max(map.getZoom(), 16));
                        markers.get(d.deviceId)?.openPopup();
                      }
                    },
                  },
                  d.deviceId,
                ),
                h('div', { class: 'muted' }, label(KIND_LABELS, d.kind)),
              ),
              h('td', {}, h('span', { class: `badge ${d.state}` }, label(STATE_LABELS, d.state))),
              h('td', {}, d.alerts.map((a) => label(ALERT_TYPE_LABELS, a.type)).join(', ')),
            ),
          )),
    );
    const withoutPlace = [...devices.values()].filter((d) => d.lat === null || d.lon === null).length;
    unplaced.textContent = `${devices.size} équipements${withoutPlace > 0 ? `, dont ${withoutPlace} sans position` : ''}.`;
    container.dataset.devices = String(markers.size);
  };

  const load = async () => {
    const query = cursor ? `?since=${encodeURIComponent(cursor)}` : '';
    const page = await ctx.api<{ cursor: string; devices: Device[] }>('GET', `/api/console/devices${query}`);
    cursor = page.cursor;
    for (const d of page.devices) {
      devices.set(d.deviceId, d);
      place(d);
    }
    if (!fitted && map && markers.size > 0) {
      fitted = true;
      map.fitBounds(L.featureGroup([...markers.values()]).getBounds(), { padding: [20, 20], maxZoom: 16 });
    }
    renderList();
  };

  return {
    element,
    show() {
      if (!map) {
        map = L.map(container, { preferCanvas: true }).setView(
          [settings.center.lat, settings.center.lon],
          settings.zoom,
        );
        if (settings.tileUrl) {
          L.tileLayer(settings.tileUrl, { attribution: settings.tileAttribution, maxZoom: 19 }).addTo(map);
        }
        L.control.scale({ imperial: false }).addTo(map);
        for (const d of devices.values()) place(d);
      }
      // The container was hidden: Leaflet measures it again once shown.
      requestAnimationFrame(() => map?.invalidateSize());
    },
    refresh: load,
  };
}
