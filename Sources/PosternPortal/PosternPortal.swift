// PosternPortal: the web pages people use to manage their account security.
//
// Charter: render pages, read forms, keep cookies and CSRF tokens, and
// translate form posts into core calls. Every rule (who may sign in, what
// needs a second factor, how recently a sensitive change needs the password)
// lives in PosternCore; this module asks and shows the answer. It must not
// hold a security rule, log a secret, accept a POST without its CSRF check,
// or change state on GET.
//
// One exception to the last, on purpose: the three one-time reveals,
// `GET /security/app-passwords/new/:id` (a new app password),
// `GET /security/recovery-codes/new/:id` (new recovery codes) and
// `GET /security/devices/setup/:id` (a new device-setup link), spend the
// sealed secret they show (`AccountService.takeReveal`, one
// `DELETE … RETURNING`). Reading it and using up the one view are the same
// act, so a reload or a second tab answers 410 and never the secret again.
// Nothing else changes: the password, codes or link were made by the POST
// before (CSRF-checked, recently proven), and the GET creates, changes or
// revokes nothing the user owns. A reveal belongs to the session that made it
// and lives five minutes under a random id; another site cannot learn the id,
// and its requests carry the session cookie only as a top-level navigation
// (SameSite=Lax). The worst a stray GET (a prefetch) can do is use up the
// view; the user then revokes that password, makes new codes, or cancels the
// link. Spending the reveal on a POST instead would leave the first GET
// nothing to show, and the first GET showing it is the tested behaviour
// (`PortalTests.revealOnce`, `SecurityPagesTests.appleSetupLink`,
// tests/browser/test_portal.py, test_security_keys.py and test_devices.py).
//
// Layout: `Portal` wires everything; one controller per area
// (`SignInController`, `PasswordResetController`, `SecurityController`,
// `AppPasswordsController`, `DeviceSetupController`, `ActivityController`,
// and `AdminController` for the operator's console), each a struct holding its dependencies with
// `addRoutes(to:)`, its bodies beside it. Signed-in routes run on
// `BrowserContext`, sensitive changes on `RecentlyProvenContext`
// (PortalContexts.swift), so handlers never unwrap an optional account.
