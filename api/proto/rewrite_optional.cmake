# Copies a .proto file for protoc-c 1.4.1, which rejects proto3
# `optional`: each `optional T name = N;` becomes `oneof _name { T name =
# N; }`, the synthetic oneof that protoc itself generates for optional
# fields, so the bytes on the wire do not change.
# Usage: cmake -DIN=file.proto -DOUT=copy.proto -P rewrite_optional.cmake
file(READ "${IN}" text)
string(REGEX REPLACE
  "optional[ \t]+([A-Za-z0-9_.]+)[ \t]+([A-Za-z0-9_]+)[ \t]*=[ \t]*([0-9]+)[ \t]*;"
  "oneof _\\2 { \\1 \\2 = \\3; }" text "${text}")
file(WRITE "${OUT}" "${text}")
