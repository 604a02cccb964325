build/obj/src/common/crc32c.o: src/common/crc32c.c src/common/crc32c.h
src/common/crc32c.h:
