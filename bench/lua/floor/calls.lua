#!lua name=floor_calls
-- bench/lua/floor/calls.lua: the Functions bench/lua/floor.py times one
-- redis.call by (docs/benchmarks.md, "The floor of one Function per step").
-- floor_nop returns at once (the fixed cost of an FCALL by its number of
-- KEYS and ARGV); floor_cmd runs ARGV[1] on KEYS[1] with ARGV[2..] and
-- floor_cmd0 runs ARGV[1] with ARGV[2..] and no key: each minus
-- floor_nop with the same KEYS and ARGV is one redis.call, its boundary
-- (argv objects, the reply parsed back into Lua) and the command.
-- Neither returns the command's reply, as duro.lua's Functions do not.

redis.register_function('floor_nop', function() return 1 end)

redis.register_function('floor_cmd', function(keys, args)
    redis.call(args[1], keys[1], unpack(args, 2))
    return 1
end)

redis.register_function('floor_cmd0', function(_, args)
    redis.call(args[1], unpack(args, 2))
    return 1
end)
