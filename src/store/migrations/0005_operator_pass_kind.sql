-- Single-use passes an operator issues ("damm pass issue", POST /v1/operator/passes)
-- are their own kind: "public" names only what anonymous visitors mint. Passes
-- issued before this migration were stored as "public"; their creator tells them apart.
ALTER TABLE install_passes DROP CONSTRAINT install_passes_kind_check;
UPDATE install_passes SET kind = 'operator' WHERE kind = 'public' AND created_by LIKE 'operator:%';
ALTER TABLE install_passes ADD CONSTRAINT install_passes_kind_check CHECK (kind IN ('public', 'operator', 'invite'));
