// Alerts: a placeholder until the alerting engine's page is built.
import { ready, setConnection } from "../ui.js";

setConnection("idle", "not live");
ready();
