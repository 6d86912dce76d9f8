-- IP policies (reusable sets of allow/deny CIDR rules), IP restrictions (one per type and account,
-- each using one or more policies), a per-account version that every change bumps (bff replicas
-- reload their compiled restrictions when it moves), and dashboard lockout recovery: single-use
-- emailed links and the requests that were made for them (rate limiting).

create table ip_policies (
    id          text primary key,                        -- ipp_...
    account_id  text not null references accounts (id) on delete cascade,
    description text not null default '' check (octet_length(description) <= 255),
    metadata    text not null default '' check (octet_length(metadata) <= 4096),
    created_at  timestamptz not null default now()
);
create index ip_policies_account_idx on ip_policies (account_id, id desc);

create table ip_policy_rules (
    id           text primary key,                       -- ipr_...
    account_id   text not null references accounts (id) on delete cascade,
    ip_policy_id text not null references ip_policies (id) on delete cascade,
    cidr         text not null check (length(cidr) between 4 and 43), -- normalised network, e.g. 192.0.2.0/24
    action       text not null check (action in ('allow', 'deny')),
    description  text not null default '' check (octet_length(description) <= 255),
    metadata     text not null default '' check (octet_length(metadata) <= 4096),
    created_at   timestamptz not null default now(),
    constraint ip_policy_rules_policy_cidr_key unique (ip_policy_id, cidr)
);
create index ip_policy_rules_account_idx on ip_policy_rules (account_id, id desc);

create table ip_restrictions (
    id          text primary key,                        -- ipx_...
    account_id  text not null references accounts (id) on delete cascade,
    type        text not null check (type in ('dashboard', 'api', 'agent', 'endpoints')),
    enforced    boolean not null default false,
    description text not null default '' check (octet_length(description) <= 255),
    metadata    text not null default '' check (octet_length(metadata) <= 4096),
    created_at  timestamptz not null default now(),
    constraint ip_restrictions_account_type_key unique (account_id, type)
);
create index ip_restrictions_account_idx on ip_restrictions (account_id, id desc);

-- The policies of a restriction, in the order given. A policy in use cannot be deleted.
create table ip_restriction_policies (
    ip_restriction_id text not null references ip_restrictions (id) on delete cascade,
    -- Checked at commit (deferred), so deleting an account cascades through its restrictions
    -- first; deleting a policy that is still used fails (ERR_EDGEWAY_1420).
    ip_policy_id      text not null references ip_policies (id) deferrable initially deferred,
    position          int not null,
    primary key (ip_restriction_id, ip_policy_id)
);
create index ip_restriction_policies_policy_idx on ip_restriction_policies (ip_policy_id);

-- Bumped by the triggers below on any change to an account's policies, rules or restrictions.
-- No foreign key: a cascade from a deleted account fires the triggers after the account is gone.
create table ip_restriction_versions (
    account_id text primary key,
    version    bigint not null default 0
);

create function ip_restriction_bump() returns trigger language plpgsql as $$
declare
    acct text;
begin
    if tg_table_name = 'ip_restriction_policies' then
        select account_id into acct from ip_restrictions
            where id = coalesce(new.ip_restriction_id, old.ip_restriction_id);
        if acct is null then
            return null; -- the restriction itself is being deleted; its own trigger bumps
        end if;
    elsif tg_op = 'DELETE' then
        acct := old.account_id;
    else
        acct := new.account_id;
    end if;
    if not exists (select 1 from accounts where id = acct) then
        delete from ip_restriction_versions where account_id = acct;
        return null;
    end if;
    insert into ip_restriction_versions (account_id, version) values (acct, 1)
        on conflict (account_id) do update set version = ip_restriction_versions.version + 1;
    perform pg_notify('ip_restrictions_changed', acct);
    return null;
end $$;

create trigger ip_policies_bump after insert or update or delete on ip_policies
    for each row execute function ip_restriction_bump();
create trigger ip_policy_rules_bump after insert or update or delete on ip_policy_rules
    for each row execute function ip_restriction_bump();
create trigger ip_restrictions_bump after insert or update or delete on ip_restrictions
    for each row execute function ip_restriction_bump();
create trigger ip_restriction_policies_bump after insert or update or delete on ip_restriction_policies
    for each row execute function ip_restriction_bump();

-- Lockout recovery links: single use, short-lived, for one administrator of one account.
-- Only a SHA-256 of the token is stored.
create table ip_recovery_tokens (
    token_hash   bytea primary key,
    account_id   text not null references accounts (id) on delete cascade,
    user_id      text not null references users (id) on delete cascade,
    requested_ip text not null default '',
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    used_at      timestamptz
);
create index ip_recovery_tokens_expires_idx on ip_recovery_tokens (expires_at);

-- Requests for a recovery email, counted per IP and per email over a window.
create table ip_recovery_requests (
    id         bigserial primary key,
    ip         text not null,
    email      text not null,
    created_at timestamptz not null default now()
);
create index ip_recovery_requests_ip_idx on ip_recovery_requests (ip, created_at);
create index ip_recovery_requests_email_idx on ip_recovery_requests (lower(email), created_at);

---- create above / drop below ----

drop table ip_recovery_requests;
drop table ip_recovery_tokens;
drop table ip_restriction_policies;
drop table ip_restrictions;
drop table ip_policy_rules;
drop table ip_policies;
drop function ip_restriction_bump();
drop table ip_restriction_versions;
