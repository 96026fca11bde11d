# embed_web.cmake: turns every file under DIR into OUT, a C file defining
# srv_static_files[] (URL path, bytes, length, ETag) and srv_static_nfiles,
# for server/src/static.c: the web UI and the food app are compiled into
# the duro binary, like the OpenAPI document (embed.cmake).
# cmake -DDIR=... -DOUT=... -P embed_web.cmake
file(GLOB_RECURSE files RELATIVE "${DIR}" "${DIR}/*")
list(SORT files)
set(arrays "")
set(table "")
set(i 0)
foreach(f ${files})
  file(READ "${DIR}/${f}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  file(SHA256 "${DIR}/${f}" sum)
  string(SUBSTRING "${sum}" 0 20 etag)
  string(APPEND arrays "static const unsigned char f${i}[] = {${bytes}0x00};\n")
  string(APPEND table "    {\"/${f}\", f${i}, sizeof(f${i}) - 1, \"\\\"${etag}\\\"\"},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE "${OUT}.tmp"
  "/* generated from ${DIR} by embed_web.cmake: do not edit */\n"
  "#include \"static.h\"\n"
  "${arrays}"
  "const srv_static_file srv_static_files[] = {\n${table}};\n"
  "const unsigned long srv_static_nfiles = ${i};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
