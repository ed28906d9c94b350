//! The channel columns of a ticket (widget, email, Slack, Teams) and the channel metadata
//! of its messages.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{json, Value};
use uuid::Uuid;

use super::Generator;
use crate::seed::catalog::{self, Topic};
use crate::seed::ids::IdKind;

/// The channel columns of one ticket.
#[derive(Default)]
pub(super) struct ChannelFields {
    pub(super) detail: Option<&'static str>,
    pub(super) widget_session_id: Option<String>,
    pub(super) session_id: Option<String>,
    pub(super) session_context: Option<Value>,
    pub(super) slack_channel_id: Option<String>,
    pub(super) slack_thread_ts: Option<String>,
    pub(super) slack_team_id: Option<String>,
    pub(super) teams_channel_id: Option<String>,
    pub(super) teams_conversation_id: Option<String>,
    pub(super) teams_service_url: Option<&'static str>,
    pub(super) teams_tenant_id: Option<String>,
    pub(super) email_channel_id: Option<Uuid>,
    pub(super) email_subject: Option<String>,
    pub(super) cc_participants: Option<Value>,
}

impl Generator<'_> {
    pub(super) fn channel(
        &mut self,
        source: &str,
        topic: &Topic,
        created_at: DateTime<Utc>,
    ) -> ChannelFields {
        // A copy of the shared reference, so picking from it does not borrow `self`.
        let ctx = self.ctx;
        match source {
            "widget" => self.widget_channel(),
            "email" => self.email_channel(topic),
            "slack" => ChannelFields {
                detail: Some(self.weighted(&[
                    ("slack_channel_message", 60),
                    ("slack_bot_mention", 30),
                    ("slack_emoji_reaction", 10),
                ])),
                slack_channel_id: Some(self.pick(&ctx.slack_channels).clone()),
                slack_thread_ts: Some(slack_ts(created_at)),
                slack_team_id: Some(ctx.slack_team_id.clone()),
                ..ChannelFields::default()
            },
            _ => {
                let channel = self.pick(&ctx.teams_channels).clone();
                ChannelFields {
                    detail: Some(
                        self.weighted(&[("teams_channel_message", 60), ("teams_bot_mention", 40)]),
                    ),
                    teams_conversation_id: Some(format!(
                        "{channel};messageid={}",
                        created_at.timestamp_millis()
                    )),
                    teams_channel_id: Some(channel),
                    teams_service_url: Some(catalog::TEAMS_SERVICE_URL),
                    teams_tenant_id: Some(ctx.teams_tenant_id.clone()),
                    ..ChannelFields::default()
                }
            }
        }
    }

    /// Embedded widgets know the visitor's session and page; API-created ones mostly not.
    fn widget_channel(&mut self) -> ChannelFields {
        let embedded = self.rng.random_bool(0.8);
        let mut fields = ChannelFields {
            detail: Some(if embedded {
                "widget_embedded"
            } else {
                "widget_api"
            }),
            widget_session_id: Some(self.ids.next(IdKind::Session).simple().to_string()),
            ..ChannelFields::default()
        };
        if embedded && self.rng.random_bool(0.9) {
            let path = *self.pick(&catalog::APP_PATHS);
            fields.session_id = Some(self.ids.next(IdKind::Session).hyphenated().to_string());
            fields.session_context = Some(json!({
                "current_url": format!("https://app.{}.example.com{path}", self.ctx.slug),
                "$browser": self.pick(&catalog::BROWSERS),
                "$os": self.pick(&catalog::OPERATING_SYSTEMS),
                "locale": self.pick(&["en-US", "en-GB", "de-DE", "fr-FR", "ja-JP"]),
            }));
        }
        fields
    }

    fn email_channel(&mut self, topic: &Topic) -> ChannelFields {
        let cc = if self.rng.random_bool(0.1) {
            let colleague = self.identity();
            json!([colleague.email])
        } else {
            json!([])
        };
        ChannelFields {
            email_channel_id: Some(self.ctx.fixtures.email_channel_id),
            email_subject: Some((*self.pick(topic.subjects)).to_owned()),
            cc_participants: Some(cc),
            ..ChannelFields::default()
        }
    }
}

/// Channel metadata the way each channel delivers it.
pub(super) fn channel_metadata(source: &str, id: Uuid, at: DateTime<Utc>) -> Value {
    match source {
        "email" => json!({ "email_message_id": format!("<{}@mail.example.com>", id.simple()) }),
        "slack" => json!({ "slack_ts": slack_ts(at) }),
        "teams" => json!({ "teams_activity_id": at.timestamp_millis().to_string() }),
        _ => json!({}),
    }
}

/// Slack's message timestamp format: seconds, a dot, six digits.
fn slack_ts(at: DateTime<Utc>) -> String {
    format!("{}.{:06}", at.timestamp(), at.timestamp_subsec_micros())
}
