// Diesel's view of `migrations/`, written to match the SQL; the integration tests run every
// query against the migrated schema, so a mismatch fails there.

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    teams (id) {
        id -> Uuid,
        organization_id -> Uuid,
        slug -> Text,
        name -> Text,
        last_ticket_number -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    organization_memberships (organization_id, user_id) {
        organization_id -> Uuid,
        user_id -> Uuid,
        level -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    team_memberships (team_id, user_id) {
        team_id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    roles (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    role_memberships (role_id, user_id) {
        role_id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    persons (id) {
        id -> Uuid,
        team_id -> Uuid,
        properties -> Jsonb,
        is_identified -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    person_distinct_ids (team_id, distinct_id) {
        team_id -> Uuid,
        distinct_id -> Text,
        person_id -> Uuid,
    }
}

diesel::table! {
    email_channels (id) {
        id -> Uuid,
        team_id -> Uuid,
        address -> Text,
        from_name -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tickets (id) {
        id -> Uuid,
        team_id -> Uuid,
        ticket_number -> Int4,
        channel_source -> Text,
        channel_detail -> Nullable<Text>,
        widget_session_id -> Nullable<Text>,
        distinct_id -> Text,
        status -> Text,
        priority -> Nullable<Text>,
        anonymous_traits -> Jsonb,
        ai_resolved -> Bool,
        escalation_reason -> Nullable<Text>,
        unread_customer_count -> Int4,
        unread_team_count -> Int4,
        message_count -> Int4,
        last_message_at -> Nullable<Timestamptz>,
        last_message_text -> Nullable<Text>,
        slack_channel_id -> Nullable<Text>,
        slack_thread_ts -> Nullable<Text>,
        slack_team_id -> Nullable<Text>,
        teams_channel_id -> Nullable<Text>,
        teams_conversation_id -> Nullable<Text>,
        teams_service_url -> Nullable<Text>,
        teams_tenant_id -> Nullable<Text>,
        email_channel_id -> Nullable<Uuid>,
        email_subject -> Nullable<Text>,
        email_from -> Nullable<Text>,
        cc_participants -> Jsonb,
        session_id -> Nullable<Text>,
        session_context -> Jsonb,
        sla_due_at -> Nullable<Timestamptz>,
        snoozed_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    ticket_assignments (id) {
        id -> Uuid,
        ticket_id -> Uuid,
        user_id -> Nullable<Uuid>,
        role_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    ticket_activities (id) {
        id -> Uuid,
        team_id -> Uuid,
        ticket_id -> Uuid,
        kind -> Text,
        actor_user_id -> Nullable<Uuid>,
        details -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        team_id -> Uuid,
        ticket_id -> Uuid,
        content -> Text,
        author_type -> Text,
        is_private -> Bool,
        created_by -> Nullable<Uuid>,
        item_context -> Jsonb,
        deleted -> Bool,
        deleted_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tags (id) {
        id -> Uuid,
        team_id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    ticket_tags (ticket_id, tag_id) {
        ticket_id -> Uuid,
        tag_id -> Uuid,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        team_id -> Uuid,
        user_id -> Nullable<Uuid>,
        name -> Text,
        key_hash -> Bytea,
        key_prefix -> Text,
        scopes -> Array<Text>,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    ticket_views (id) {
        id -> Uuid,
        team_id -> Uuid,
        owner_user_id -> Nullable<Uuid>,
        name -> Text,
        filter -> Jsonb,
        order_by -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(teams -> organizations (organization_id));
diesel::joinable!(organization_memberships -> organizations (organization_id));
diesel::joinable!(organization_memberships -> users (user_id));
diesel::joinable!(team_memberships -> teams (team_id));
diesel::joinable!(team_memberships -> users (user_id));
diesel::joinable!(roles -> organizations (organization_id));
diesel::joinable!(role_memberships -> roles (role_id));
diesel::joinable!(role_memberships -> users (user_id));
diesel::joinable!(persons -> teams (team_id));
diesel::joinable!(person_distinct_ids -> persons (person_id));
diesel::joinable!(email_channels -> teams (team_id));
diesel::joinable!(tickets -> teams (team_id));
diesel::joinable!(tickets -> email_channels (email_channel_id));
diesel::joinable!(ticket_assignments -> tickets (ticket_id));
diesel::joinable!(ticket_assignments -> users (user_id));
diesel::joinable!(ticket_assignments -> roles (role_id));
diesel::joinable!(ticket_activities -> tickets (ticket_id));
diesel::joinable!(messages -> tickets (ticket_id));
diesel::joinable!(messages -> users (created_by));
diesel::joinable!(tags -> teams (team_id));
diesel::joinable!(ticket_tags -> tickets (ticket_id));
diesel::joinable!(ticket_tags -> tags (tag_id));
diesel::joinable!(api_keys -> teams (team_id));
diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(ticket_views -> teams (team_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    teams,
    users,
    organization_memberships,
    team_memberships,
    roles,
    role_memberships,
    persons,
    person_distinct_ids,
    email_channels,
    tickets,
    ticket_assignments,
    ticket_activities,
    messages,
    tags,
    ticket_tags,
    api_keys,
    ticket_views,
);
