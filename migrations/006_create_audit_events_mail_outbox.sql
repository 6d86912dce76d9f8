-- Audit events, written in the same transaction as the change they record, and the mail outbox,
-- written in the same transaction as the change that sends the mail and drained by a worker.

create table audit_events (
    id                text primary key,                  -- ev_...
    account_id        text not null references accounts (id) on delete cascade,
    event_type        text not null,                     -- api_key_created.v0, ...
    object_id         text not null default '',
    object            jsonb not null default '{}',
    principal_id      text not null default '',          -- usr_...
    principal_subject text not null default '',          -- the user's email
    principal_source  text not null default '' check (principal_source in ('', 'Dashboard', 'API')),
    principal_credential_id text not null default '',   -- ak_... when the source is the API
    created_at        timestamptz not null default now()
);
create index audit_events_account_idx on audit_events (account_id, id desc);

create table mail_outbox (
    id            bigserial primary key,
    account_id    text references accounts (id) on delete cascade,
    to_addr       text not null,
    subject       text not null,
    body_text     text not null,
    created_at    timestamptz not null default now(),
    attempts      int not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error    text not null default '',
    sent_at       timestamptz,
    failed_at     timestamptz                              -- gave up after the last retry
);
create index mail_outbox_due_idx on mail_outbox (next_attempt_at) where sent_at is null and failed_at is null;

---- create above / drop below ----

drop table mail_outbox;
drop table audit_events;
