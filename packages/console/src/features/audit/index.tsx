/** The audit log (admins). */
import type { Feature } from "../feature";
import { AuditPage } from "./AuditPage";

export const audit: Feature = {
  id: "audit",
  minRole: "admin",
  nav: { label: "Audit", href: "#/audit" },
  routes: [{ path: "audit", render: () => <AuditPage />, forbidden: "The audit log is for admins." }],
};
