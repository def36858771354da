// Login: a plain form POST to /api/login (works without script); nothing live here.
import { ready, setConnection } from "../ui.js";

setConnection("idle", "not logged in");
ready();
