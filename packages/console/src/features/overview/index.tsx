/** The fleet overview: the landing page ("#/"). */
import type { Feature } from "../feature";
import { OverviewPage } from "./OverviewPage";

export const overview: Feature = {
  id: "overview",
  minRole: "viewer",
  nav: { label: "Overview", href: "#/" },
  routes: [{ path: "overview", render: () => <OverviewPage /> }],
};
