import { useEffect, useRef } from "preact/hooks";
import L from "leaflet";
import { MOVEMENT } from "../names.js";
import { STALE_AFTER_MS, minutesAgo } from "../packet-time.js";
import type { Person, PinView } from "../people.js";
import { seeMe } from "../store.js";
import type { Fix } from "../location-policy.js";

interface Props {
  people: Person[];
  pins: PinView[];
  me?: Fix;
  now: number;
  focus?: { latitude: number; longitude: number };
  fitRequest: number;
}

interface Shown {
  marker: L.Marker;
  circle?: L.Circle;
}

/** A Leaflet map (DOM tiles, no WebGL) with a PeerMarker per person, pins and my own position. */
export function PeopleMap({ people, pins, me, now, focus, fitRequest }: Props) {
  const element = useRef<HTMLDivElement>(null);
  const map = useRef<L.Map | undefined>(undefined);
  const shown = useRef(new Map<string, Shown>());
  const fittedCount = useRef(0);

  useEffect(() => {
    const instance = L.map(element.current!, { zoomControl: true, attributionControl: true }).setView([20, 0], 2);
    L.tileLayer(seeMe.config.tileUrl, { attribution: seeMe.config.tileAttribution, maxZoom: 19 }).addTo(instance);
    map.current = instance;
    return () => {
      instance.remove();
      shown.current.clear();
    };
  }, []);

  const fit = () => {
    const points: L.LatLngExpression[] = people.flatMap((p) =>
      p.location && !p.hidden ? [[p.location.latitude, p.location.longitude] as L.LatLngTuple] : [],
    );
    if (me) points.push([me.latitude, me.longitude]);
    if (!points.length || !map.current) return;
    map.current.fitBounds(L.latLngBounds(points), { padding: [48, 48], maxZoom: 15, animate: false });
  };

  useEffect(() => {
    const instance = map.current;
    if (!instance) return;
    const keep = new Set<string>();
    const place = (key: string, latitude: number, longitude: number, icon: L.DivIcon, accuracy?: number) => {
      keep.add(key);
      const existing = shown.current.get(key);
      if (existing) {
        existing.marker.setLatLng([latitude, longitude]).setIcon(icon);
        if (existing.circle && accuracy) existing.circle.setLatLng([latitude, longitude]).setRadius(accuracy);
        return;
      }
      const marker = L.marker([latitude, longitude], { icon, keyboard: false, interactive: false }).addTo(instance);
      const circle = accuracy
        ? L.circle([latitude, longitude], { radius: accuracy, weight: 1, fillOpacity: 0.1, interactive: false }).addTo(
            instance,
          )
        : undefined;
      shown.current.set(key, { marker, circle });
    };
    for (const person of people) {
      if (!person.location || person.hidden) continue;
      const { latitude, longitude, movement, time, accuracy } = person.location;
      const stale = now - time > STALE_AFTER_MS;
      const moving = MOVEMENT[movement] ?? MOVEMENT[2];
      const label = `${person.connection.label}, ${moving.name}, ${minutesAgo(time, now)}${stale ? " (stale)" : ""}`;
      place(
        `person:${person.connection.connection}`,
        latitude,
        longitude,
        markerIcon(
          person.connection.label,
          `${moving.icon} ${minutesAgo(time, now)}`,
          label,
          stale ? "peer stale" : "peer",
        ),
        accuracy,
      );
    }
    for (const pin of pins)
      place(
        `pin:${pin.key}`,
        pin.latitude,
        pin.longitude,
        markerIcon(`📍 ${pin.label}`, pin.from, `Pin from ${pin.from}: ${pin.label}`, "pin"),
      );
    if (me) place("me", me.latitude, me.longitude, markerIcon("You", "", "You are here", "me"), me.accuracy);
    for (const [key, item] of shown.current) {
      if (keep.has(key)) continue;
      item.marker.remove();
      item.circle?.remove();
      shown.current.delete(key);
    }
    // The view follows when someone first appears; after that, "Fit everyone" does it on request.
    const located = people.filter((p) => p.location && !p.hidden).length + (me ? 1 : 0);
    if (located > fittedCount.current) fit();
    fittedCount.current = Math.max(fittedCount.current, located);
  }, [people, pins, me, now]);

  useEffect(() => {
    if (fitRequest) fit();
  }, [fitRequest]);

  useEffect(() => {
    if (focus && map.current) map.current.setView([focus.latitude, focus.longitude], 16, { animate: false });
  }, [focus]);

  return <div class="map" ref={element} role="region" aria-label="Map of everyone's last position" />;
}

function markerIcon(title: string, detail: string, label: string, kind: string): L.DivIcon {
  const root = document.createElement("div");
  root.className = `marker ${kind}`;
  root.setAttribute("role", "img");
  root.setAttribute("aria-label", label);
  const name = document.createElement("strong");
  name.textContent = title;
  root.append(name);
  if (detail) {
    const small = document.createElement("small");
    small.textContent = detail;
    root.append(small);
  }
  return L.divIcon({ html: root, className: "marker-anchor", iconSize: [0, 0] });
}
