import { MOVEMENT } from "../names.js";
import { STALE_AFTER_MS, minutesAgo } from "../packet-time.js";
import { formatPosition, type Person } from "../people.js";

interface Props {
  people: Person[];
  now: number;
  mySharing: boolean;
  onShow: (point: { latitude: number; longitude: number }) => void;
  onAdd: () => void;
}

/** The map's content as a list, for screen readers and for reading at a glance. */
export function PeopleList({ people, now, mySharing, onShow, onAdd }: Props) {
  if (!people.length) {
    return (
      <section class="people-list" aria-labelledby="people-heading">
        <h2 id="people-heading">People</h2>
        <p>Nobody here yet. Add someone in person: you scan each other's codes.</p>
        <button type="button" class="primary" onClick={onAdd}>
          Add someone
        </button>
      </section>
    );
  }
  return (
    <section class="people-list" aria-labelledby="people-heading">
      <h2 id="people-heading">People</h2>
      <ul>
        {people.map((person) => {
          const { location } = person;
          const stale = location ? now - location.time > STALE_AFTER_MS : false;
          let detail: string;
          if (person.hidden) detail = `${person.connection.label} is not sharing: you don't see each other.`;
          else if (!mySharing) detail = "Hidden while your sharing is off.";
          else if (!location) detail = "No location yet.";
          else {
            const moving = MOVEMENT[location.movement] ?? MOVEMENT[2];
            detail = `${moving.icon} ${moving.name} · ${minutesAgo(location.time, now)}${stale ? " (stale)" : ""} · ${formatPosition(location.latitude, location.longitude)}`;
          }
          return (
            <li key={person.connection.connection} class={stale ? "stale" : undefined}>
              <div>
                <strong>{person.connection.label}</strong>
                <span class="detail">{detail}</span>
              </div>
              {location && !person.hidden && mySharing && (
                <button
                  type="button"
                  onClick={() => onShow(location)}
                  aria-label={`Show ${person.connection.label} on the map`}
                >
                  Show
                </button>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
