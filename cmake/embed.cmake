# Turns a text file into a C array: cmake -DIN=f -DOUT=f.c -DNAME=sym -P embed.cmake
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
file(WRITE ${OUT} "/* Generated from ${IN}. */\nextern const char ${NAME}[];\nextern const unsigned long ${NAME}_len;\nconst char ${NAME}[] = {${hex} 0};\nconst unsigned long ${NAME}_len = sizeof(${NAME}) - 1;\n")
