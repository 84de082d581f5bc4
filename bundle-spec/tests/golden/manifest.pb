
keel-bundle1.1.0full"$00000000-0000-4000-8000-000000000000*2026-01-01T00:00:00Z2

keel.tests0.0.0none"0:rootB#
f64_inf64 2a documented inputB
f32_inf32B
i64_ini64B
i32_ini32 B
bool_inboolB
utf8_inutf8 B:
vec_inf64*first*second*	third âœ“2a named vectorJ
every_attr.Zutf8J
out_vecf64 *p0*p1R
author
keel testsR
note âœ“line one
line "two"ZO
graph.pb@93b755c49af1e8b7311ba586e03d1d137f9767881368ade6d747bb13a13495d8Ö	Z\
tensors/a.safetensors@5ecd9638a47db9c11858a91e96e2bb0f6e2ec9f34cb0bc39a267479d76ed28d6äZ\
tensors/b.safetensors@56f72353e31fb455e3efc405ac0a9a42a8366bf84972d8d6d855186bf9f3e85c•