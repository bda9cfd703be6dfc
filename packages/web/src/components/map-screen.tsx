import { useMemo, useState } from "preact/hooks";
import { activePeople, pins } from "../people.js";
import { useAppState } from "../store.js";
import { PeopleList } from "./people-list.js";
import { PeopleMap } from "./people-map.js";
import { SharingSwitch } from "./sharing-switch.js";

export function MapScreen({ focus, onAdd }: { focus?: { latitude: number; longitude: number }; onAdd: () => void }) {
  const state = useAppState();
  const people = useMemo(() => activePeople(state), [state.connections, state.inbox]);
  const pinList = useMemo(() => pins(state), [state.connections, state.inbox]);
  const [target, setTarget] = useState(focus);
  const [fitRequest, setFitRequest] = useState(0);
  return (
    <div class="map-screen">
      <SharingSwitch />
      <div class="map-area">
        <PeopleMap
          people={people}
          pins={pinList}
          me={state.sharing ? state.myFix : undefined}
          now={state.now}
          focus={target ?? focus}
          fitRequest={fitRequest}
        />
        <div class="map-actions">
          <button
            type="button"
            onClick={() => {
              setTarget(undefined);
              setFitRequest((n) => n + 1);
            }}
          >
            Fit everyone
          </button>
        </div>
      </div>
      <PeopleList
        people={people}
        now={state.now}
        mySharing={state.sharing}
        onShow={(p) => setTarget({ ...p })}
        onAdd={onAdd}
      />
    </div>
  );
}
