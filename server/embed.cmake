# embed.cmake: turns IN (a text file) into OUT, a C file defining
# const unsigned char NAME[] (NUL-terminated) and NAME_len.
# cmake -DIN=... -DOUT=... -DNAME=... -P embed.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}.tmp"
  "/* generated from ${IN} by embed.cmake: do not edit */\n"
  "const unsigned char ${NAME}[] = {${bytes}0x00};\n"
  "const unsigned long ${NAME}_len = sizeof(${NAME}) - 1;\n")
file(RENAME "${OUT}.tmp" "${OUT}")
