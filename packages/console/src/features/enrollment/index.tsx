/** Enrollment: tokens and the one-line agent command (operators). */
import type { Feature } from "../feature";
import { EnrollPage } from "./EnrollPage";

export const enrollment: Feature = {
  id: "enrollment",
  minRole: "operator",
  nav: { label: "Enroll", href: "#/enroll" },
  routes: [
    { path: "enroll", render: () => <EnrollPage />, forbidden: "Enrolling devices needs the operator role." },
  ],
};
