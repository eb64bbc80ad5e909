// Evaluated before the extensions, which look for a global htmx.
import htmx from "htmx.org";

window.htmx = htmx;
export default htmx;
