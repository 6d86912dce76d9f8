-- Team members and their roles: the role strings a membership may hold, disabled members,
-- invitations by email, and the plans an account may be on.

-- Role strings (see bff/auth/roles.go and policies/policy.csv). A membership always holds at least
-- one; one created before roles existed becomes a read-write developer with read-only team access.
update memberships set roles = '{developer_read_write,team_read_only}' where cardinality(roles) = 0;
alter table memberships add constraint memberships_roles_check check (
    cardinality(roles) > 0 and roles <@ array['admin', 'developer_read_write', 'developer_read_only',
        'team_manager', 'team_invite_only', 'team_read_only', 'billing_access']::text[]);

-- A disabled member cannot sign in or use API keys until enabled again.
alter table memberships add column disabled_at timestamptz;
create index memberships_admins_idx on memberships (account_id) where 'admin' = any (roles);

-- Plan names (limits live in bff/plans).
alter table accounts add constraint accounts_plan_check check (plan in ('free', 'pro', 'enterprise'));

-- Invitations: a single-use, expiring link sent by email. Only a SHA-256 of the token is stored.
create table invitations (
    id           text primary key,                       -- inv_...
    account_id   text not null references accounts (id) on delete cascade,
    email        text not null check (length(email) between 3 and 254),
    roles        text[] not null,
    token_hash   bytea not null unique,
    invited_by   text references users (id) on delete set null,
    created_at   timestamptz not null default now(),
    sent_at      timestamptz not null default now(),
    expires_at   timestamptz not null,
    accepted_at  timestamptz,
    revoked_at   timestamptz
);
create index invitations_account_idx on invitations (account_id, id desc);
-- At most one pending invitation per email and account.
create unique index invitations_pending_key on invitations (account_id, lower(email))
    where accepted_at is null and revoked_at is null;

---- create above / drop below ----

drop table invitations;
alter table accounts drop constraint accounts_plan_check;
drop index memberships_admins_idx;
alter table memberships drop column disabled_at;
alter table memberships drop constraint memberships_roles_check;
