/**
 * uPlot and its stylesheet, in a chunk of their own: only the metrics pages load it (dynamic
 * import in TimeChart), so the rest of the console does not carry the charting library.
 */
import "uplot/dist/uPlot.min.css";

export { default } from "uplot";
