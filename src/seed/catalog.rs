//! Fixed vocabularies the demo data is drawn from: names, companies, tags and the
//! conversation snippets of each support topic. Plain `'static` tables so generating a
//! million tickets only picks indices and never parses anything.

/// The support agents every seeded team gets: `(first, last)`; their emails are
/// `first.last@<slug>.example.com`, unique per team slug.
pub const AGENTS: [(&str, &str); 8] = [
    ("Ada", "Lovelace"),
    ("Grace", "Hopper"),
    ("Alan", "Turing"),
    ("Katherine", "Johnson"),
    ("Edsger", "Dijkstra"),
    ("Barbara", "Liskov"),
    ("Donald", "Knuth"),
    ("Margaret", "Hamilton"),
];

/// Organisation level of each agent above, same order: one owner, one admin.
pub const AGENT_LEVELS: [&str; 8] = [
    "owner", "admin", "member", "member", "member", "member", "member", "member",
];

/// Roles and the agents (indices into `AGENTS`) that hold them.
pub const ROLES: [(&str, &[usize]); 3] = [
    ("Tier 1", &[0, 1, 2, 3]),
    ("Billing", &[5, 7]),
    ("Engineering", &[2, 4, 6]),
];

pub const TAGS: [&str; 12] = [
    "bug",
    "billing",
    "feature-request",
    "onboarding",
    "login",
    "refund",
    "integration",
    "performance",
    "data-export",
    "urgent",
    "feedback",
    "security",
];

pub const FIRST_NAMES: [&str; 40] = [
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Mia", "Lucas",
    "Isabella", "Mateo", "Chloé", "Jonas", "Zoë", "Hiroshi", "Priya", "Arjun", "Fatima", "Omar",
    "Ingrid", "Lars", "Sofía", "Diego", "Aisha", "Kwame", "Mei", "Wei", "Yuki", "Sven", "Léa",
    "Hugo", "Nina", "Marco", "Elena", "Tomás", "Ana", "Ravi", "Leila", "Jakub",
];

pub const LAST_NAMES: [&str; 40] = [
    "Smith",
    "Johnson",
    "Garcia",
    "Müller",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Nakamura",
    "Patel",
    "Okafor",
    "Andersson",
    "Jensen",
    "Novak",
    "Silva",
    "Fernández",
    "Kim",
    "Nguyen",
    "Cohen",
    "O'Brien",
    "Schmidt",
    "Ivanova",
    "Haddad",
    "Mensah",
    "Larsen",
    "Moreau",
    "Bianchi",
    "Tanaka",
    "Chen",
    "Singh",
    "Hernández",
    "Costa",
    "Eriksson",
    "Yilmaz",
    "Popescu",
    "Walker",
    "Murphy",
    "Khan",
    "Lopez",
    "Berg",
    "Wright",
];

/// `(company name, email domain)` of the customers.
pub const COMPANIES: [(&str, &str); 16] = [
    ("Acme Corp", "acme.io"),
    ("Globex", "globex.com"),
    ("Initech", "initech.com"),
    ("Umbrella Health", "umbrella-health.org"),
    ("Hooli", "hooli.xyz"),
    ("Stark Industries", "stark.industries"),
    ("Wayne Logistics", "waynelogistics.com"),
    ("Tyrell Labs", "tyrell.ai"),
    ("Cyberdyne", "cyberdyne.dev"),
    ("Soylent Foods", "soylent.co"),
    ("Vandelay Imports", "vandelay.biz"),
    ("Wonka Confectionery", "wonka.shop"),
    ("Oceanic Air", "oceanic-air.com"),
    ("Massive Dynamic", "massivedynamic.net"),
    ("Pied Piper", "piedpiper.com"),
    ("Aperture Science", "aperture.science"),
];

/// Free-mail domains for customers without a company address.
pub const FREEMAIL: [&str; 4] = ["gmail.com", "outlook.com", "proton.me", "yahoo.co.uk"];

pub const PLANS: [&str; 4] = ["free", "starter", "growth", "enterprise"];
pub const BROWSERS: [&str; 4] = ["Chrome", "Firefox", "Safari", "Edge"];
pub const OPERATING_SYSTEMS: [&str; 5] = ["Mac OS X", "Windows", "Linux", "iOS", "Android"];
pub const COUNTRIES: [&str; 8] = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "NG"];
pub const APP_PATHS: [&str; 8] = [
    "/dashboard",
    "/settings/billing",
    "/projects/42/insights",
    "/login",
    "/integrations/slack",
    "/exports",
    "/team/members",
    "/onboarding/step-3",
];

/// One kind of support conversation. `tag` indexes `TAGS`.
pub struct Topic {
    pub tag: usize,
    pub subjects: &'static [&'static str],
    pub openings: &'static [&'static str],
    pub follow_ups: &'static [&'static str],
    pub support_replies: &'static [&'static str],
    pub ai_replies: &'static [&'static str],
}

pub static TOPICS: [Topic; 8] = [
    Topic {
        tag: 1,
        subjects: &["Charged twice this month", "Invoice shows the wrong VAT number", "Question about my bill"],
        openings: &[
            "We were charged twice for the March invoice. Can you refund the duplicate charge?",
            "Our latest invoice has the wrong VAT number on it, and finance cannot book it like this.",
            "Why did our bill go up by 40% this month? We didn't add any seats.",
        ],
        follow_ups: &[
            "The duplicate charge is still on our card statement today.",
            "Can you send the corrected invoice as a PDF as well?",
        ],
        support_replies: &[
            "I've refunded the duplicate charge; it should appear on your statement within 5–10 business days.",
            "I've corrected the VAT number and re-issued the invoice, you'll find it under Settings → Billing.",
            "The increase comes from usage above your plan's included volume; I've attached a breakdown.",
        ],
        ai_replies: &[
            "Duplicate charges are usually pre-authorisations that drop off within 3 days. If it is still there after that, reply here and a human will refund it.",
            "You can update your VAT number under Settings → Billing → Tax details; new invoices will use it.",
        ],
    },
    Topic {
        tag: 4,
        subjects: &["Can't log in", "SSO login loops back to the start", "Password reset email never arrives"],
        openings: &[
            "I can't log in anymore — it says my password is wrong, but I just reset it.",
            "Our Okta SSO login redirects back to the login page in an endless loop.",
            "The password reset email never arrives, I've checked spam too.",
        ],
        follow_ups: &[
            "Still no luck, I tried in an incognito window as well.",
            "Other people on my team can log in fine, it's only me.",
        ],
        support_replies: &[
            "I've cleared the lockout on your account; could you try again now?",
            "Your SSO connection had an outdated certificate. I've refreshed it — please try once more.",
            "Our mail provider had bounced your address. I've removed the suppression and re-sent the email.",
        ],
        ai_replies: &[
            "Accounts are locked for 15 minutes after 5 failed attempts. Please wait a little and try again, or use \"Forgot password\".",
            "SSO loops usually mean the identity provider's certificate changed. An admin can re-upload it under Settings → Authentication.",
        ],
    },
    Topic {
        tag: 0,
        subjects: &["Dashboard shows a blank page", "Error 500 when saving a project", "Chart numbers don't match the export"],
        openings: &[
            "Since this morning the dashboard just shows a blank page for me.",
            "Saving a project fails with \"Error 500: something went wrong\".",
            "The numbers in the weekly chart don't match the CSV export for the same range.",
        ],
        follow_ups: &[
            "Here's the request id from the error page: req_8f2c1a9e.",
            "It happens in both Chrome and Firefox.",
            "It's working again now — what happened?",
        ],
        support_replies: &[
            "Thanks for the report! We found the bug and a fix is rolling out in the next deploy.",
            "I can reproduce this on our side and have escalated it to engineering.",
            "The chart uses your project's time zone while the export uses UTC, which explains the difference.",
        ],
        ai_replies: &[
            "A blank page is often caused by a browser extension blocking scripts. Could you try disabling ad blockers for our domain?",
            "I couldn't find a known incident matching this error, so I've passed it to the team.",
        ],
    },
    Topic {
        tag: 2,
        subjects: &["Feature request: dark mode", "Can we schedule reports?", "API for bulk updates?"],
        openings: &[
            "Any plans for a dark mode? My eyes would thank you.",
            "We'd love to schedule the weekly report to go out every Monday morning.",
            "Is there an API endpoint to update many records at once?",
        ],
        follow_ups: &[
            "Great, is there a public roadmap where I can follow this?",
            "Happy to beta test it if that helps.",
        ],
        support_replies: &[
            "Thanks for the suggestion — I've added your vote to the request on our roadmap.",
            "Scheduled reports are in beta; I've enabled them for your organisation.",
        ],
        ai_replies: &[
            "There is a bulk endpoint: POST /api/records/bulk accepts up to 1,000 records per call.",
            "This is on our roadmap but I don't have a date yet. I've recorded your interest.",
        ],
    },
    Topic {
        tag: 6,
        subjects: &["Slack integration stopped posting", "Webhook deliveries failing", "Zapier trigger not firing"],
        openings: &[
            "Our Slack integration stopped posting alerts to #ops yesterday.",
            "All our webhook deliveries fail with a timeout since the weekend.",
            "The Zapier trigger for new signups doesn't fire anymore.",
        ],
        follow_ups: &[
            "We haven't changed anything on our side.",
            "I reconnected the integration but it's still silent.",
        ],
        support_replies: &[
            "The Slack token was revoked when the installing user left your workspace; reinstalling the app fixes it.",
            "Your endpoint responds after 30 s but we time out at 10 s. Could you acknowledge first and process asynchronously?",
        ],
        ai_replies: &[
            "Integrations stop when the token is revoked. Try Settings → Integrations → Reconnect.",
        ],
    },
    Topic {
        tag: 7,
        subjects: &["Everything is really slow today", "Queries time out on large projects"],
        openings: &[
            "The app has been really slow all day, pages take 20+ seconds to load.",
            "Insights on our biggest project time out after a minute.",
        ],
        follow_ups: &[
            "It's a bit better now but still slower than usual.",
            "Is there a status page I can subscribe to?",
        ],
        support_replies: &[
            "We had degraded database performance in the EU region this morning; it's resolved now.",
            "I've moved your project to a larger query pool; queries should finish well within the limit now.",
        ],
        ai_replies: &[
            "You can follow incidents on our status page. Narrowing the date range also makes large queries much faster.",
        ],
    },
    Topic {
        tag: 8,
        subjects: &["How do I export all our data?", "GDPR data request for a user"],
        openings: &[
            "How can I export all of our data to CSV before our renewal?",
            "We received a GDPR access request — how do we export everything about one user?",
        ],
        follow_ups: &["The export link in the email has expired, can you send a new one?"],
        support_replies: &[
            "I've started a full export for you; you'll get a download link by email when it's ready.",
            "You can export a single person's data from their profile page → ⋯ → Export data.",
        ],
        ai_replies: &[
            "Exports are under Settings → Data → Export. Large exports are emailed when ready.",
        ],
    },
    Topic {
        tag: 3,
        subjects: &["Getting started with the widget", "How do I invite my team?"],
        openings: &[
            "We just signed up — where do I find the snippet to install the widget?",
            "How do I invite the rest of my team to our organisation?",
        ],
        follow_ups: &["Found it, thanks! One more: can I restrict who sees billing?"],
        support_replies: &[
            "Welcome aboard! The snippet is under Settings → Widget; paste it before the closing </body> tag.",
            "Invite people from Settings → Members; admins can limit billing access per role.",
        ],
        ai_replies: &[
            "Go to Settings → Members → Invite, enter their emails and pick a role. They'll get an email right away.",
        ],
    },
];

/// Customer replies that fit any topic.
pub const GENERIC_CUSTOMER: [&str; 6] = [
    "Thanks, that fixed it!",
    "Any update on this?",
    "I'm still seeing the problem, unfortunately.",
    "Perfect, thank you so much 🙏",
    "Could you give me a call instead? It's urgent for us.",
    "Merci beaucoup, ça marche maintenant !",
];

/// Internal notes agents leave each other (private messages).
pub const PRIVATE_NOTES: [&str; 5] = [
    "Checked the logs: this customer hit the rate limiter 40 times yesterday.",
    "Enterprise account — keep the account manager in the loop.",
    "Looks like the same root cause as last week's incident.",
    "Refund approved by finance, processing now.",
    "Escalated to engineering, waiting on a fix.",
];

pub const ESCALATION_REASONS: [&str; 5] = [
    "Customer asked to talk to a human",
    "Low confidence in the suggested answer",
    "Refund requires approval",
    "Possible bug, needs engineering",
    "Customer is frustrated",
];

/// Appended to a few first messages to make them longer than the 500 characters of
/// `last_message_text` (with multi-byte text, so truncation must respect char boundaries).
pub const LONG_TAIL: &str = "\n\nHere is what the browser console says:\n\
    TypeError: Cannot read properties of undefined (reading 'map')\n\
    \u{20}   at renderSeries (chart.tsx:214:31)\n\
    \u{20}   at updateDashboard (dashboard.tsx:88:9)\n\
    \u{20}   at async refresh (dashboard.tsx:61:5)\n\
    Request id: req_3e9b77d0c1, region: eu-central-1, release: 2024.11.3\n\
    Steps: open the dashboard → pick \"Last 90 days\" → switch the chart to \"Stacked\" → reload.\n\
    Our Munich office (Grüße an das Team!) and our Tokyo office (東京のチーム) both see it.\n\
    This blocks our weekly business review, so any workaround would be much appreciated. 🙇";

pub const TEAMS_SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";
