// What the SPA does, through the client generated from openapi/openapi.json: compiled with
// `tsc --strict` against the generated types, then run against the real server
// (tests/contract/test_typescript_client.py). A type the document gets wrong fails the
// compile; an answer the document gets wrong fails the run.
import { createHmac } from "node:crypto";
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api.js";

type Problem = components["schemas"]["Problem"];
type Application = components["schemas"]["Application"];

const baseUrl = required("BASE_URL");
const api = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${required("SYSTEM_ADMIN_TOKEN")}` },
});

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
}

function ok<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.data === undefined) {
    throw new Error(`${what}: ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

// A Cal.com delivery, signed as Cal.com signs it: the receiver is not in the SPA's client.
async function book(cohortId: string, secret: string, email: string): Promise<void> {
  const start = new Date(Date.now() + 7 * 86_400_000);
  start.setUTCMilliseconds(0);
  const body = JSON.stringify({
    triggerEvent: "BOOKING_CREATED",
    createdAt: new Date().toISOString(),
    payload: {
      uid: `scenario-${Date.now()}`,
      startTime: start.toISOString(),
      endTime: new Date(start.getTime() + 30 * 60_000).toISOString(),
      attendees: [{ email, name: "Jane M. Doe", timeZone: "Europe/London" }],
      responses: { email: { value: email }, name: { value: "Jane M. Doe" } },
    },
  });
  const response = await fetch(`${baseUrl}/webhooks/calcom/${cohortId}`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-Cal-Signature-256": createHmac("sha256", secret).update(body).digest("hex"),
    },
    body,
  });
  check(response.status === 200, "Cal.com's delivery is accepted");
}

async function main(): Promise<void> {
  const organization = ok(
    await api.POST("/v1/organizations", { body: { name: "Acme Fellowship" } }),
    "create an organization",
  );
  const cohort = ok(
    await api.POST("/v1/organizations/{org_id}/cohorts", {
      params: { path: { org_id: organization.id } },
      body: { name: "Spring 2026" },
    }),
    "create a cohort",
  );
  const cohortPath = { params: { path: { cohort_id: cohort.id } } };

  // Create: `status` may be left out, and only a creatable status compiles.
  const submitted: Application = ok(
    await api.POST("/v1/cohorts/{cohort_id}/applications", {
      ...cohortPath,
      body: { applicant_name: "Ada Lovelace", contact_email: "ada@example.org" },
    }),
    "create an application without a status",
  );
  check(submitted.status === "submitted", "it is submitted");
  const names = ["Jane Doe", "Jane Roe", "Janet Poe"];
  for (const [index, name] of names.entries()) {
    ok(
      await api.POST("/v1/cohorts/{cohort_id}/applications", {
        ...cohortPath,
        body: {
          applicant_name: name,
          contact_email: `jane${index}@example.org`,
          status: "waiting_first_round",
        },
      }),
      `create ${name}, waiting for the first round`,
    );
  }
  const scheduled = await api.POST("/v1/cohorts/{cohort_id}/applications", {
    ...cohortPath,
    // @ts-expect-error: only a booking schedules an interview, so the type refuses it
    body: { applicant_name: "X", contact_email: "x@example.org", status: "first_round_scheduled" },
  });
  check(scheduled.response.status === 422, "and so does the server");

  // List with filters, a page at a time.
  const seen: Application[] = [];
  let cursor: string | undefined;
  do {
    const page = ok(
      await api.GET("/v1/cohorts/{cohort_id}/applications", {
        params: {
          path: { cohort_id: cohort.id },
          query: { status: ["waiting_first_round"], q: "jan", limit: 2, cursor },
        },
      }),
      "list a page of the filtered applications",
    );
    seen.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined);
  check(seen.length === 3, "the pages hold the three applications the filters select");
  check(
    seen.every((a) => a.pipeline.state === "awaiting_scheduling" && a.interview === null),
    "each awaits scheduling, with no interview yet",
  );
  const jane = seen.find((a) => a.applicant_name === "Jane Doe");
  if (jane === undefined) throw new Error("Jane Doe is not listed");

  // A booking from an email no application has: an orphan, counted for the badge.
  await book(cohort.id, cohort.webhook_secret, "jane.m.doe@example.net");
  const count = ok(
    await api.GET("/v1/cohorts/{cohort_id}/orphaned-interviews/count", cohortPath),
    "count the open orphans",
  );
  check(count.open === 1, "one orphan is open");
  const orphans = ok(
    await api.GET("/v1/cohorts/{cohort_id}/orphaned-interviews", cohortPath),
    "list the open orphans",
  );
  const orphan = orphans.items[0];
  if (orphan === undefined) throw new Error("no orphan listed");

  // Match it to Jane: her first round is scheduled.
  const matched = ok(
    await api.POST("/v1/orphaned-interviews/{orphan_id}/match", {
      params: { path: { orphan_id: orphan.id } },
      body: { application_id: jane.id },
    }),
    "match the orphan to Jane",
  );
  check(matched.orphaned_interview.state === "matched", "the orphan is matched");
  check(matched.application.status === "first_round_scheduled", "Jane's first round is booked");
  check(matched.application.interview?.start_time.endsWith("Z") === true, "times are UTC, Z");

  // Her history: typed interviews, times with Z.
  const history = ok(
    await api.GET("/v1/applications/{application_id}/history", {
      params: { path: { application_id: jane.id } },
    }),
    "read Jane's history",
  );
  const match = history.items.find((entry) => entry.kind === "match");
  check(match?.interview?.booking_uid === orphan.booking_uid, "the match names the booking");
  check(match?.interview?.end_time.endsWith("Z") === true, "history times are UTC, Z");

  // A refusal, read as the problem type the document declares.
  const refused = await api.POST("/v1/applications/{application_id}/status", {
    params: { path: { application_id: jane.id } },
    body: { status: "submitted" },
  });
  const problem: Problem | undefined = refused.error;
  check(refused.response.status === 409, "moving a booked application back is refused");
  check(problem?.type === "urn:scheduling-service:problem:transition-refused", "as its type");
  check(problem !== undefined && problem.errors === undefined, "without `errors`");

  const invalid = await api.POST("/v1/cohorts/{cohort_id}/applications", {
    ...cohortPath,
    body: { applicant_name: "Bad", contact_email: "not an email" },
  });
  const issues = invalid.error?.errors ?? [];
  check(invalid.response.status === 422, "an invalid email is refused");
  check(
    issues.some((issue) => issue.loc.join(".") === "body.contact_email" && issue.msg !== ""),
    "with the reason, typed {loc, msg, type}",
  );
}

// Never called: what the generated types must refuse, checked by the compiler alone.
export function refusedByTheTypes(problem: Problem): void {
  // @ts-expect-error: `errors` is sent on validation problems only, so it may be absent
  console.log(problem.errors.length);
  // @ts-expect-error: `type` is a closed list; a URN the service never sends does not compile
  console.log(problem.type === "urn:scheduling-service:problem:teapot");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
