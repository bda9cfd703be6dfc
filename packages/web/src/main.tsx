import { render } from "preact";
import "leaflet/dist/leaflet.css";
import "./styles.css";
import { App } from "./components/app.js";
import { seeMe } from "./store.js";

render(<App />, document.getElementById("app")!);
void seeMe.start();

if ("serviceWorker" in navigator && location.protocol !== "file:") {
  addEventListener("load", () => void navigator.serviceWorker.register("/sw.js").catch(() => undefined));
}
